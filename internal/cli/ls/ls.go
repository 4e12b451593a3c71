// Package ls implements `berth ls`.
package ls

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/display"
	"github.com/berth-run/berth/internal/cli/iostreams"
	"github.com/berth-run/berth/internal/cli/tableprinter"
	"github.com/berth-run/berth/job"
)

// Options are the flags of `berth ls` and what it needs.
type Options struct {
	IO     *iostreams.IOStreams
	Client func() (*client.Client, error)
	Now    func() time.Time

	States []job.State
	Name   string
	Labels map[string]string
	Since  time.Time
	Limit  int
	All    bool
	JSON   bool
	Quiet  bool
}

// pageMax is the API's largest page.
const pageMax = 10000

// NewCmdLs returns the command; runF replaces its behaviour in tests.
func NewCmdLs(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "ls [flags]",
		Short: "List jobs",
		Long: `List jobs, oldest first: every job unless filtered.

On a terminal the columns are aligned under a header and times are
relative; otherwise rows are tab-separated, without header, with RFC3339
times. The columns: ID, NAME, STATE, TASKS (progress of an array job),
REASON (why it is in its state: EXIT_CODE 1, HELD, WAITING 7...),
SUBMITTED, UNREAD (output or results berth receive has not returned yet).
--json keeps the API's names: substate, has_more_data.`,
		Example: `  berth ls --state Running,Queued
  berth ls --name 'render-*' --label project=x --since 2h`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.All && opts.Limit > 0 {
				return cmdutil.FlagErrorf("--all and --limit exclude each other")
			}
			if opts.JSON && opts.Quiet {
				return cmdutil.FlagErrorf("--json and --quiet exclude each other")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	cmdutil.StatesVar(fs, &opts.States, "state", "Only jobs in these states (comma-separated, repeatable): "+statesList())
	fs.StringVar(&opts.Name, "name", "", "Only jobs whose name matches this shell glob")
	cmdutil.KVVar(fs, &opts.Labels, "label", "Only jobs with this label (repeatable; all must match)")
	cmdutil.SinceVar(fs, &opts.Since, f.Now, "since", "Only jobs submitted since this time: a duration ago (1h, 2d) or RFC3339")
	cmdutil.IntRangeVar(fs, &opts.Limit, "limit", "", 0, 1<<31-1, "List at most this many jobs (0: no limit)")
	fs.BoolVar(&opts.All, "all", false, "List every matching job (the default; excludes --limit)")
	fs.BoolVar(&opts.JSON, "json", false, cmdutil.JSONFlagHelp)
	fs.BoolVarP(&opts.Quiet, "quiet", "q", false, "Print the job IDs only, one a line (for scripts: berth stop $(berth ls -q --state queued))")
	return cmd
}

func statesList() string {
	s := ""
	for i, st := range job.States {
		if i > 0 {
			s += ", "
		}
		s += string(st)
	}
	return s
}

func run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	p := client.ListParams{States: opts.States, Name: opts.Name, Labels: opts.Labels, Since: opts.Since}
	if opts.Limit > 0 {
		p.Limit = min(opts.Limit, pageMax)
	}
	jobs := []*job.Job{}
	for j, err := range c.JobsAll(ctx, p) {
		if err != nil {
			return err
		}
		jobs = append(jobs, j)
		if opts.Limit > 0 && len(jobs) == opts.Limit {
			break
		}
	}
	if opts.JSON {
		return cmdutil.PrintJSON(opts.IO.Out, jobs)
	}
	if opts.Quiet {
		for _, j := range jobs {
			if _, err := fmt.Fprintln(opts.IO.Out, j.ID); err != nil {
				return err
			}
		}
		return nil
	}
	tty := opts.IO.IsStdoutTTY()
	if len(jobs) == 0 {
		if tty {
			_, err := opts.IO.ErrOut.Write([]byte("no jobs\n"))
			return err
		}
		return nil
	}
	now := opts.Now()
	t := tableprinter.New(opts.IO.Out, tty, "ID", "NAME", "STATE", "TASKS", "REASON", "SUBMITTED", "UNREAD")
	for _, j := range jobs {
		t.AddRow(strconv.FormatInt(j.ID, 10), j.Name, string(j.State), display.TaskCounts(j),
			j.SubState.String(), tableprinter.Time(tty, now, j.SubmittedAt), display.Bool(tty, j.HasMoreData))
	}
	return t.Render()
}
