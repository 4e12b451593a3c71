// Package control implements `berth stop`, `kill`, `suspend`, `resume`,
// `hold` and `release`: one control action on jobs or tasks.
package control

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/iostreams"
	"github.com/berth-run/berth/job"
)

// Options are the arguments of a control command and what it needs.
type Options struct {
	IO     *iostreams.IOStreams
	Client func() (*client.Client, error)

	Action job.Action
	Refs   []job.Ref
	Select cmdutil.Selection
	// Grace, for stop, is the time between SIGTERM and SIGKILL (nil: the
	// job's, else the server's; 0: SIGKILL at once, as kill does).
	Grace *time.Duration
	// Signal, for stop, is sent first instead of SIGTERM.
	Signal string
}

var commands = []struct {
	use    string
	action job.Action
	short  string
}{
	{"stop", job.Terminate, "Stop jobs or tasks (terminate: SIGTERM, then SIGKILL after the grace)"},
	{"kill", job.Terminate, "Kill jobs or tasks at once (SIGKILL, no grace)"},
	{"suspend", job.Suspend, "Suspend running jobs or tasks (SIGSTOP)"},
	{"resume", job.Resume, "Resume suspended jobs or tasks"},
	{"hold", job.Hold, "Hold queued jobs or tasks: they will not start until released"},
	{"release", job.Release, "Release held jobs or tasks"},
}

// NewCmds returns the control commands.
func NewCmds(f *cmdutil.Factory, runF func(context.Context, *Options) error) []*cobra.Command {
	var cmds []*cobra.Command
	for _, c := range commands {
		cmds = append(cmds, NewCmd(f, c.use, c.action, c.short, runF))
	}
	return cmds
}

// NewCmd returns the command named use applying action.
func NewCmd(f *cmdutil.Factory, use string, action job.Action, short string, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Action: action}
	var grace job.Duration
	cmd := &cobra.Command{
		Use:   use + " {ID[.INDEX]... | --label K=V | --state S | --name GLOB | --all}",
		Short: short,
		Long: short + `.

ID names a job (every task of an array), ID.INDEX one task of an array;
--label, --state, --name and --all select jobs instead (on a terminal, stop
asks first unless --yes). On a terminal, prints how many tasks changed for
each. A failure for one reference is reported and the others still run;
the command then exits 1 (2 if every failure was an unknown job).`,
		Example: "  berth " + use + " 7 8.3\n  berth " + use + " --label team=ops --state running",
		Args:    opts.Select.Args("job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			refs, err := cmdutil.ParseRefs(args)
			if err != nil {
				return err
			}
			opts.Refs = refs
			switch {
			case use == "kill":
				opts.Grace = new(time.Duration)
			case cmd.Flags().Changed("grace"):
				g := grace.Std()
				opts.Grace = &g
			}
			if opts.Signal != "" {
				if opts.Signal, err = job.ParseStopSignal(opts.Signal); err != nil {
					return cmdutil.FlagErrorf("--signal: %v", err)
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	opts.Select.AddFlags(cmd.Flags(), action == job.Terminate)
	if use == "stop" {
		cmdutil.DurationVar(cmd.Flags(), &grace, "grace", "Time between the first signal and SIGKILL (0: at once; default: the job's --grace, else the server's --stop-grace)")
		cmd.Flags().StringVar(&opts.Signal, "signal", "", "Send `SIG` first instead of SIGTERM (INT, QUIT, HUP, USR1, USR2, TERM, KILL)")
		cmd.Long += `

--signal SIG sends SIG first instead of SIGTERM (for programs that end
cleanly on SIGINT, say); --grace D gives the tasks D before SIGKILL,
whatever the job's or the server's grace (10s unless set). berth kill is
stop --grace 0.`
	}
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	if opts.Select.Active() {
		if opts.Refs, err = opts.Select.Refs(ctx, c); err != nil {
			return err
		}
		if opts.Action == job.Terminate {
			verb, done := "Stop", "stopped"
			if opts.Grace != nil && *opts.Grace == 0 {
				verb, done = "Kill", "killed"
			}
			if err := opts.Select.ConfirmOrCancel(opts.IO, verb, done, len(opts.Refs)); err != nil {
				return err
			}
		}
		if len(opts.Refs) == 0 {
			fmt.Fprintln(opts.IO.ErrOut, "no job matches")
		}
	}
	var fails cmdutil.Failures
	for _, ref := range opts.Refs {
		var n int
		if opts.Action == job.Terminate && (opts.Grace != nil || opts.Signal != "") {
			n, err = c.Stop(ctx, ref, client.StopParams{Grace: opts.Grace, Signal: opts.Signal})
		} else {
			n, err = c.Control(ctx, ref, opts.Action)
		}
		if cmdutil.IsNoServer(err) {
			return err
		}
		fails.Add(err, func(err error) { fmt.Fprintf(opts.IO.ErrOut, "%s: %v\n", ref, err) })
		if err == nil && opts.IO.IsStdoutTTY() {
			fmt.Fprintf(opts.IO.ErrOut, "%s: %d task(s) changed\n", ref, n)
		}
	}
	return fails.Err()
}
