package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/daemon"
)

func init() { extraCommands = append(extraCommands, newCmdWatchdog) }

func newCmdWatchdog(f *cmdutil.Factory) *cobra.Command {
	var logLevel string
	cmd := &cobra.Command{
		Use:   "watchdog DIR",
		Short: "Kill a hung worker's tasks when its lease lapses (started by berth worker)",
		Long: `Enforce the lease of the worker whose fence directory is DIR. Every worker
starts one and renews the lease in DIR/lease.json at each heartbeat the
server answers. If the lease and its grace pass without a renewal (the
worker hangs, is stopped or frozen), the watchdog kills every process task
carrying the worker's BERTH_FENCE marker and every container with its
label, then exits; it also exits when the worker stops cleanly. There is no
need to run it by hand.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, log, err := setup(f, logLevel)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return daemon.RunWatchdog(ctx, args[0], log)
		},
	}
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	return cmd
}
