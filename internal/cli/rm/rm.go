// Package rm implements `berth rm`.
package rm

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/iostreams"
	"github.com/berth-run/berth/job"
)

// Options are the arguments of `berth rm` and what it needs.
type Options struct {
	IO     *iostreams.IOStreams
	Client func() (*client.Client, error)

	IDs    []int64
	Force  bool
	Select cmdutil.Selection
}

// NewCmdRm returns the command; runF replaces its behaviour in tests.
func NewCmdRm(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "rm {ID... | --label K=V | --state S | --name GLOB | --before D | --all} [--force]",
		Short: "Remove ended jobs and their files",
		Long: `Remove jobs, their output and their results.

A job that has not ended is refused unless --force, which stops it first.
A failure for one job is reported and the others are still removed; the
command then exits 1 (2 if every failure was an unknown job). --label,
--state, --name and --all select jobs instead of IDs; --before D keeps of
them (or of all jobs, alone) those that ended more than D ago. On a terminal
rm asks first unless --yes. berth serve --retention removes ended jobs by
itself after 30 days.`,
		Example: "  berth rm 7 8\n  berth rm --state done,failed --label team=ops\n  berth rm --state done --before 24h",
		Args:    opts.Select.Args("job ID"),
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
	cmd.Flags().BoolVarP(&opts.Force, "force", "f", false, "Stop jobs that have not ended, then remove them")
	opts.Select.AddFlags(cmd.Flags(), true)
	cmdutil.DurationVar(cmd.Flags(), &opts.Select.Before, "before", "Act only on the jobs that ended more than `D` ago (12h, 7d)")
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
		if err := opts.Select.ConfirmOrCancel(opts.IO, "Remove", "removed", len(opts.IDs)); err != nil {
			return err
		}
		if len(opts.IDs) == 0 {
			fmt.Fprintln(opts.IO.ErrOut, "no job matches")
		}
	}
	var fails cmdutil.Failures
	for _, id := range opts.IDs {
		err := c.Remove(ctx, id, opts.Force)
		if cmdutil.IsNoServer(err) {
			return err
		}
		if errors.Is(err, job.ErrInvalidState) {
			err = fmt.Errorf("job %d has not ended; use --force to stop and remove it", id)
		}
		fails.Add(err, func(err error) { fmt.Fprintln(opts.IO.ErrOut, err) })
		if err == nil && opts.IO.IsStdoutTTY() {
			fmt.Fprintf(opts.IO.ErrOut, "removed job %d\n", id)
		}
	}
	return fails.Err()
}
