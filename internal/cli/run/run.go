// Package run implements `berth run`: submit a command as a job and, unless
// detached, follow it to its end as if it ran here.
package run

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/iostreams"
	"github.com/berth-run/berth/job"
)

// Options are the flags of `berth run` and what it needs.
type Options struct {
	IO     *iostreams.IOStreams
	Client func() (*client.Client, error)
	Now    func() time.Time
	// Signals returns the channel of interrupts (SIGINT, SIGTERM) and a
	// func that stops them; tests send their own.
	Signals func() (<-chan os.Signal, func())
	// progressEvery is how often the progress line of an array job is
	// redrawn on a terminal for its elapsed time (0: only on changes).
	progressEvery time.Duration

	// Spec is the job the flags and arguments describe.
	Spec     job.Spec
	Detach   bool
	EachFile string
	JSON     bool
}

// NewCmdRun returns the command; runF replaces its behaviour in tests.
func NewCmdRun(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Now: f.Now, Signals: notify, progressEvery: time.Second}
	s := &opts.Spec
	var ctr *containerFlags // set with the flags below
	cmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARG...]",
		Short: "Run a command as a job",
		Long: `Submit COMMAND as a job. The command runs as argv, never through a shell.

By default berth follows the job as if it ran here: its stdout and stderr
stream to yours, and berth exits with the job's exit code (128+N if signal
N ended it, 1 if it failed without one). Ctrl-C stops the job, waits for
its end and exits 130. With -d berth prints the job's ID and returns.

--array 1-100:2 makes an array job: one task per index, with
$BERTH_TASK_INDEX set. --each FILE makes one task per non-empty line of
FILE (- for stdin): "{}" in COMMAND and ARGs is replaced by the line, which
is also in $BERTH_INPUT. In the script of sh -c (bash, dash, zsh... -c)
the line goes in quoted for where {} stands (bare, "...", '...'): it is
always literal text, never code.
Unless detached, berth prints the job ID, shows progress while the tasks
run, then prints a table (INDEX, INPUT, STATE, EXIT, DURATION), why each
failed task failed with the last lines of its stderr, and "N succeeded,
M failed" (on stderr), and exits 0 if every task is Done, else 1.

--json prints the job (with -d), the tasks array (for an array), or the
ended task with its history (for a plain job, whose output is then not
streamed).

` + cmdutil.ExitCodesHelp,
		Example: `  berth run -- make test
  berth run -d --name nightly --time-limit 2h -- ./backup.sh /data
  berth run --array 1-100 --max-parallel 8 -- ./render.sh
  ls *.wav | berth run --each - -- flac {}
  berth run --each hosts.txt -- sh -c 'ssh {} uptime'
  berth run --image alpine:3 --memory 256m --cpus 0.5 --network none -- sh -c 'uname -a'`,
		Args: cmdutil.MinArgs(1, "COMMAND to run (berth run [flags] -- COMMAND [ARG...])"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s.Template.Command = args[0]
			if len(args) > 1 {
				s.Template.Args = args[1:]
			}
			if opts.EachFile != "" && s.Array != nil {
				return cmdutil.FlagErrorf("--each and --array exclude each other")
			}
			if err := ctr.apply(cmd.Flags(), s); err != nil {
				return err
			}
			// Like a shell: a process job runs where berth run was run,
			// when its worker has that directory.
			if s.Template.Image == "" {
				if wd, err := os.Getwd(); err == nil {
					s.SubmitDir = wd
				}
				// The server takes only absolute ones: a relative --workdir
				// is resolved here. (A container's is its own: not resolved.)
				if w := s.Template.WorkDir; w != "" && !filepath.IsAbs(w) {
					abs, err := filepath.Abs(w)
					if err != nil {
						return cmdutil.FlagErrorf("--workdir: %v", err)
					}
					s.Template.WorkDir = abs
				}
			}
			if err := s.Validate(); err != nil {
				return cmdutil.FlagErrorf("invalid job: %v", err)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	// Everything after the command is the command's: `berth run ls -l`.
	cmd.Flags().SetInterspersed(false)
	fs := cmd.Flags()
	fs.StringVar(&s.Name, "name", "", "Name of the job")
	cmdutil.KVVar(fs, &s.Template.Env, "env", "Set an environment variable `K=V` (repeatable)")
	fs.StringVar(&s.Template.WorkDir, "workdir", "", "Working directory of the command")
	cmdutil.ArrayVar(fs, &s.Array, "array", "Make an array job of the index range `BEGIN-END[:STEP]`")
	cmdutil.IntRangeVar(fs, &s.MaxParallel, "max-parallel", "", 0, math.MaxInt32, "Run at most `N` tasks of the array at once (0: no bound)")
	cmdutil.DurationVar(fs, &s.Template.TimeLimit, "time-limit", "Stop the job after this long (30s, 5m, 1h30m, 2d)")
	cmdutil.DurationVar(fs, &s.Template.StopGrace, "grace", "When the job is stopped, time between SIGTERM and SIGKILL (default: the server's --stop-grace, 10s unless set)")
	fs.BoolVar(&s.Hold, "hold", false, "Submit the job held: it starts once released")
	cmdutil.IDsVar(fs, &s.After, "after", "Start only after these jobs are Done (comma-separated `IDs`, repeatable)")
	cmdutil.KVVar(fs, &s.Labels, "label", "Add a label `k=v` (repeatable)")
	cmdutil.KVVar(fs, &s.Constraints, "constraint", "Run only on workers with the label `k=v` (repeatable)")
	cmdutil.IntRangeVar(fs, &s.Priority, "priority", "", -job.MaxPriority, job.MaxPriority, "Queue priority `N`: higher first")
	fs.StringVar(&s.Pool, "pool", "", "Run on the workers of this pool (default \"default\")")
	fs.BoolVar(&s.Template.Rerunnable, "rerunnable", false, "Run the job again after a failure or a lost worker")
	cmdutil.IntRangeVar(fs, &s.Template.MaxAttempts, "max-attempts", "", 0, 1000, fmt.Sprintf("Run a rerunnable job at most `N` times (default %d)", job.MaxAttemptsDefault))
	cmdutil.DurationVar(fs, &s.Template.RetryDelay, "retry-delay", fmt.Sprintf("Wait this long after a rerunnable job's first failed attempt, doubling after each (default %s)", job.RetryDelayDefault))
	cmdutil.DurationVar(fs, &s.Template.RetryDelayMax, "retry-delay-max", fmt.Sprintf("Wait at most this long between attempts (default %s)", job.RetryDelayMaxDefault))
	fs.BoolVarP(&opts.Detach, "detach", "d", false, "Print the job ID and return at once")
	fs.StringVar(&opts.EachFile, "each", "", "Run one task per non-empty line of `FILE` (- for stdin), replacing {}")
	fs.BoolVar(&opts.JSON, "json", false, cmdutil.JSONFlagHelp)
	ctr = addContainerFlags(fs, s)
	return cmd
}

func notify() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}

func run(ctx context.Context, opts *Options) error {
	if opts.EachFile != "" {
		inputs, err := readInputs(opts)
		if err != nil {
			return err
		}
		opts.Spec.Inputs = inputs
		if err := opts.Spec.Validate(); err != nil {
			return cmdutil.FlagErrorf("invalid job: %v", err)
		}
	}
	c, err := opts.Client()
	if err != nil {
		return err
	}
	j, err := c.Submit(ctx, opts.Spec)
	if err != nil {
		return flagWords(err)
	}
	switch {
	case opts.Detach && opts.JSON:
		return cmdutil.PrintJSON(opts.IO.Out, j)
	case opts.Detach:
		_, err := fmt.Fprintln(opts.IO.Out, j.ID)
		return err
	case j.IsArray():
		return waitArray(ctx, opts, c, j)
	}
	return foreground(ctx, opts, c, j)
}

// flagWords names the flag of a field the server refused: "--after: no
// job 9", not the API's "after[0]: no job 9".
func flagWords(err error) error {
	var apiErr *client.APIError
	if !errors.As(err, &apiErr) || apiErr.Field == "" {
		return err
	}
	field, _, _ := strings.Cut(apiErr.Field, "[")
	field, _, _ = strings.Cut(field, ".")
	flag, ok := map[string]string{"after": "--after", "pool": "--pool", "priority": "--priority",
		"name": "--name", "labels": "--label", "constraints": "--constraint", "max_parallel": "--max-parallel"}[field]
	if !ok {
		return err
	}
	code := cmdutil.ExitUsage
	return &cmdutil.ExitError{Code: code, Err: fmt.Errorf("%s: %s", flag, apiErr.Message)}
}

// readInputs reads the lines of --each.
func readInputs(opts *Options) ([]string, error) {
	var r io.Reader = opts.IO.In
	name := "stdin"
	if opts.EachFile != "-" {
		f, err := os.Open(opts.EachFile)
		if err != nil {
			return nil, cmdutil.FlagErrorf("--each: %v", err)
		}
		defer f.Close()
		r, name = f, opts.EachFile
	}
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), job.MaxArgBytes)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		if len(lines) == job.MaxInputs {
			return nil, cmdutil.FlagErrorf("--each: more than %d lines in %s", job.MaxInputs, name)
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, cmdutil.FlagErrorf("--each: reading %s: %v", name, err)
	}
	if len(lines) == 0 {
		return nil, cmdutil.FlagErrorf("--each: no input lines in %s", name)
	}
	return lines, nil
}
