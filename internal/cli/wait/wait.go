// Package wait implements `berth wait`.
package wait

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/iostreams"
	"github.com/berth-run/berth/internal/cli/tableprinter"
	"github.com/berth-run/berth/job"
)

// Options are the arguments of `berth wait` and what it needs.
type Options struct {
	IO     *iostreams.IOStreams
	Client func() (*client.Client, error)

	IDs     []int64
	Select  cmdutil.Selection
	Any     bool
	Timeout job.Duration
	JSON    bool
}

// NewCmdWait returns the command; runF replaces its behaviour in tests.
func NewCmdWait(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "wait {ID... | --label K=V | --state S | --name GLOB | --all} [--any] [--timeout D] [--json]",
		Short: "Wait for jobs to end",
		Long: `Wait until every job has ended (with --any, one of them), then print a
line per job: ID, STATE, REASON (why it ended: EXIT_CODE 0, SIGNAL SIGKILL...).

Exits 0 if every job that ended is Done, 1 if one ended Failed, 124 if
--timeout ran out first (like timeout(1)), 2 if a job does not exist.
--label, --state, --name and --all select the jobs instead of IDs (those
that match when the wait starts).`,
		Example: `  berth wait 7 8 9
  berth wait --any --timeout 10m 7 8
  berth wait --label batch=nightly`,
		Args: opts.Select.Args("job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ids, err := cmdutil.ParseIDs(args)
			if err != nil {
				return err
			}
			opts.IDs = ids
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Any, "any", false, "Return as soon as one job has ended")
	cmdutil.DurationVar(cmd.Flags(), &opts.Timeout, "timeout", "Give up after this long (30s, 5m, 1h30m, 2d) and exit 124")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, cmdutil.JSONFlagHelp)
	opts.Select.AddFlags(cmd.Flags(), false)
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	if opts.Select.Active() {
		if opts.IDs, err = opts.Select.IDs(ctx, c); err != nil {
			return err
		}
		if len(opts.IDs) == 0 {
			fmt.Fprintln(opts.IO.ErrOut, "no job matches")
			return nil
		}
	}
	res, err := c.Wait(ctx, opts.IDs, opts.Any, opts.Timeout.Std())
	if err != nil {
		return err
	}
	if opts.JSON {
		if err := cmdutil.PrintJSON(opts.IO.Out, res); err != nil {
			return err
		}
	} else {
		t := tableprinter.New(opts.IO.Out, opts.IO.IsStdoutTTY(), "ID", "STATE", "REASON")
		for _, j := range res.Jobs {
			t.AddRow(strconv.FormatInt(j.ID, 10), string(j.State), j.SubState.String())
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	return cmdutil.Exit(ExitCode(res))
}

// ExitCode is the exit code of a wait: 124 if it timed out, 1 if a job
// ended Failed, else 0.
func ExitCode(res *api.WaitResult) int {
	if res.TimedOut {
		return cmdutil.ExitTimeout
	}
	for _, j := range res.Jobs {
		if j.State == job.Failed {
			return cmdutil.ExitFailure
		}
	}
	return cmdutil.ExitOK
}
