package openjd

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/iostreams"
	model "github.com/berth-run/berth/openjd"
	"github.com/berth-run/berth/openjd/localrun"
	"github.com/berth-run/berth/openjd/session"
)

// RunOptions are the flags of `berth openjd run`.
type RunOptions struct {
	IO *iostreams.IOStreams
	// Signals delivers the interrupts that cancel the session (the first
	// cancels the running action, the second the environment exits too).
	// Defaults to SIGINT and SIGTERM of the process.
	Signals func() (<-chan os.Signal, func())
	Now     func() time.Time

	Template        string
	Step            string
	Params          []string
	TaskParams      []string
	Tasks           string
	MaximumTasks    int
	RunDependencies bool
	Environments    []string
	PathMapping     string
	Preserve        bool
	Verbose         bool
	TimestampFormat string
	Extensions      []model.Extension
	Output          string
	// Container, with an Image, runs the whole session in one container.
	Container ContainerOptions
}

// NewCmdRun returns `berth openjd run`; runF replaces its behaviour in
// tests.
func NewCmdRun(f *cmdutil.Factory, runF func(context.Context, *RunOptions) error) *cobra.Command {
	opts := &RunOptions{IO: f.IO, Now: f.Now, Signals: systemSignals}
	var ctr *containerFlagSet // set with the flags below
	cmd := &cobra.Command{
		Use:   "run TEMPLATE [flags]",
		Short: "Run a job template's tasks in a local session",
		Long: `Run the tasks of a job template on this host, in one Open Job Description
session: the environments of --environment templates, then the job's
environments are entered; the step (--step, or every step in dependency
order when the job has several and none is given) enters its step
environments and runs its tasks; then every environment is exited in
reverse order, also after a failure. The session's working directory is
removed at the end unless --preserve.

The log goes to stdout as "<timestamp>\t<line>", followed by a results
block. Ctrl-C cancels the running action with its cancelation method and
exits the environments; a second Ctrl-C cancels the exits too.

With --image, the whole session runs in one container of the image that
berth starts through the Docker Engine API before the first environment is
entered and removes at the end, also after a failure or an interrupt:
every action (environment enter and exit, task run) is an exec in it, with
its environment, working directory, timeout and cancelation. The session's
working directory is bind-mounted at the same path. --memory, --cpus,
--pids, --network and --mount apply to that container.

Exits 0 when every action succeeded, 1 when one failed, 130 when
interrupted.`,
		Example: `  berth openjd run job.yaml -p Frames=1-10
  berth openjd run job.yaml --step Render -tp Frame=3
  berth openjd run job.yaml --tasks '[{"Frame": 1}, {"Frame": 5}]' --environment env.yaml
  berth openjd run job.yaml --path-mapping-rules file://rules.json --preserve
  berth openjd run job.yaml --image python:3.12-slim --memory 1g --mount ./assets:/assets:ro`,
		// Flags are parsed here rather than by cobra, so that -tp (a
		// two-letter short flag of the reference CLI) works.
		DisableFlagParsing: true,
		Args:               cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cmd.Flags().Parse(shortTP(args)); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if help, _ := cmd.Flags().GetBool("help"); help {
				return cmd.Help()
			}
			if err := cmdutil.ExactArgs(1, "a job template file")(cmd, cmd.Flags().Args()); err != nil {
				return err
			}
			opts.Template = cmd.Flags().Arg(0)
			n := 0
			for _, set := range []bool{len(opts.TaskParams) > 0, opts.Tasks != "", cmd.Flags().Changed("maximum-tasks")} {
				if set {
					n++
				}
			}
			if n > 1 {
				return cmdutil.FlagErrorf("--task-param, --tasks and --maximum-tasks exclude each other")
			}
			if err := ctr.apply(cmd.Flags(), &opts.Container); err != nil {
				return err
			}
			if _, err := localrun.ParseTimestampFormat(opts.TimestampFormat); err != nil {
				return cmdutil.FlagErrorf("--timestamp-format: %v", err)
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runRun(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&opts.Step, "step", "", "The step to run (default: the only step, or every step in dependency order)")
	fs.StringArrayVarP(&opts.Params, "job-param", "p", nil,
		"A job parameter value: NAME=VALUE, a JSON object of values, or file://FILE (JSON or YAML) (repeatable)")
	fs.Var(appendValue{&opts.TaskParams}, "task-param", "Run one task with this task parameter value, PARAM=VALUE (repeat for each parameter; short: -tp)")
	fs.Var(appendValue{&opts.TaskParams}, "tp", "Same as --task-param")
	fs.StringVar(&opts.Tasks, "tasks", "", `The tasks to run: a JSON list of objects like [{"Frame": 1}] or file://FILE (JSON or YAML)`)
	fs.IntVar(&opts.MaximumTasks, "maximum-tasks", -1, "Run at most this many tasks (chunks) of the step")
	fs.BoolVar(&opts.RunDependencies, "run-dependencies", false, "Also run, first, the steps the step depends on")
	fs.Var(appendValue{&opts.Environments}, "environment", "An environment template to enter before the job's environments (repeatable, in order)")
	fs.Var(appendValue{&opts.Environments}, "env", "Same as --environment")
	fs.StringVar(&opts.PathMapping, "path-mapping-rules", "", "Path mapping rules (pathmapping-1.0): JSON, or file://FILE (JSON or YAML)")
	fs.BoolVar(&opts.Preserve, "preserve", false, "Keep the session's working directory")
	fs.BoolVar(&opts.Verbose, "verbose", false, "Also log each action's full command line")
	fs.StringVar(&opts.TimestampFormat, "timestamp-format", "relative", "Log timestamps: relative (to the session start), local or utc")
	extensionsVar(fs, &opts.Extensions)
	outputVar(fs, &opts.Output)
	ctr = addContainerFlags(fs, &opts.Container)
	_ = fs.MarkHidden("tp")
	_ = fs.MarkHidden("env")
	return cmd
}

// shortTP rewrites the reference CLI's -tp into --tp.
func shortTP(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch {
		case a == "--":
			copy(out[i:], args[i:])
			return out
		case a == "-tp" || strings.HasPrefix(a, "-tp="):
			out[i] = "-" + a
		default:
			out[i] = a
		}
	}
	return out
}

// systemSignals relays SIGINT and SIGTERM.
func systemSignals() (<-chan os.Signal, func()) {
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	return ch, func() { signal.Stop(ch) }
}

// runResult is the JSON form of a run's result, after the reference CLI's.
type runResult struct {
	Status     string     `json:"status"`
	Message    string     `json:"message"`
	JobName    string     `json:"job_name"`
	StepName   string     `json:"step_name,omitempty"`
	Duration   float64    `json:"duration"`
	ChunksRun  int        `json:"chunks_run"`
	FailedWith *failure   `json:"failed_action,omitempty"`
	Logs       []logEntry `json:"logs"`
}

type failure struct {
	Action   string `json:"action"`
	State    string `json:"state"`
	ExitCode int    `json:"exit_code"`
	Message  string `json:"message,omitempty"`
}

type logEntry struct {
	Timestamp string `json:"timestamp"`
	Message   string `json:"message"`
}

func runRun(ctx context.Context, opts *RunOptions) error {
	job, err := loadJob(opts.Template, opts.Params, opts.Environments, opts.Extensions)
	if err != nil {
		return err
	}
	tasks, err := parseTasks(opts.TaskParams, opts.Tasks)
	if err != nil {
		return err
	}
	rules, err := parsePathMapping(opts.PathMapping)
	if err != nil {
		return err
	}
	format, _ := localrun.ParseTimestampFormat(opts.TimestampFormat)
	human := opts.Output != outputJSON
	var lw *localrun.LogWriter
	if human {
		lw = localrun.NewLogWriter(opts.IO.Out, format, opts.Now())
	} else {
		lw = localrun.NewLogWriter(nil, format, opts.Now())
		lw.Keep = true
	}

	// The first interrupt cancels the session, the second the exits too.
	runCtx, cancelRun := context.WithCancel(ctx)
	defer cancelRun()
	cleanupCtx, cancelCleanup := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelCleanup()
	if opts.Signals != nil {
		sigs, stop := opts.Signals()
		defer stop()
		go func() {
			n := 0
			for {
				select {
				case <-sigs:
					n++
					if n == 1 {
						fmt.Fprintln(opts.IO.ErrOut, "Interrupted: canceling the session; interrupt again to cancel the environment exits too")
						cancelRun()
					} else {
						cancelCleanup()
					}
				case <-cleanupCtx.Done():
					return
				}
			}
		}()
	}

	var sc *sessionContainer
	if opts.Container.Image != "" {
		if sc, err = startContainer(runCtx, &opts.Container); err != nil {
			return err
		}
		fmt.Fprintf(opts.IO.ErrOut, "Session container %.12s of image %s\n", sc.box.ContainerID(), opts.Container.Image)
	}
	lopts := localrun.Options{
		Job:              job,
		Step:             opts.Step,
		RunDependencies:  opts.RunDependencies,
		Tasks:            tasks,
		MaximumTasks:     opts.MaximumTasks,
		PathMappingRules: rules,
		Preserve:         opts.Preserve,
		Verbose:          opts.Verbose,
		Log:              lw.Log,
		Cleanup:          cleanupCtx,
	}
	if sc != nil {
		lopts.Runner, lopts.Root = sc.runner(), sc.root
	}
	res, err := localrun.Run(runCtx, lopts)
	if sc != nil {
		// Removed whatever happened, even after a second interrupt.
		cerr := sc.close(context.WithoutCancel(ctx), opts.Preserve && res != nil)
		if err == nil {
			err = cerr
		}
	}
	if err != nil && res == nil {
		return err
	}
	if human {
		if _, perr := fmt.Fprint(opts.IO.Out, res.Summary()); perr != nil {
			return perr
		}
	} else if perr := printRunJSON(opts, res, lw); perr != nil {
		return perr
	}
	if err != nil {
		return err
	}
	switch {
	case res.Canceled:
		return cmdutil.Exit(cmdutil.ExitInterrupted)
	case !res.Succeeded:
		return cmdutil.Exit(cmdutil.ExitFailure)
	}
	return nil
}

func printRunJSON(opts *RunOptions, res *localrun.Result, lw *localrun.LogWriter) error {
	out := runResult{Status: "success", Message: res.Message(), JobName: res.JobName, StepName: res.StepName,
		Duration: res.Duration.Seconds(), ChunksRun: res.ChunksRun, Logs: []logEntry{}}
	if !res.Succeeded {
		out.Status = "error"
		out.FailedWith = &failure{Action: res.FailedAction, State: string(res.Failure.State), ExitCode: res.Failure.ExitCode,
			Message: res.Failure.Message}
	}
	for _, l := range lw.Lines {
		out.Logs = append(out.Logs, logEntry{Timestamp: lw.Stamp(l.Time), Message: l.Text})
	}
	return cmdutil.PrintJSON(opts.IO.Out, out)
}

// parseTasks reads --task-param (one task) or --tasks (a list of tasks).
func parseTasks(taskParams []string, tasks string) ([]map[string]string, error) {
	if len(taskParams) > 0 {
		t := map[string]string{}
		var errs []string
		for _, arg := range taskParams {
			k, v, ok := strings.Cut(strings.TrimLeft(arg, " "), "=")
			switch {
			case !ok || k == "" || v == "":
				errs = append(errs, fmt.Sprintf("task parameter %q: expected NAME=VALUE", arg))
			case t[k] != "":
				errs = append(errs, fmt.Sprintf("task parameter %s is given more than once", k))
			default:
				t[k] = v
			}
		}
		if len(errs) > 0 {
			return nil, cmdutil.FlagErrorf("%s", strings.Join(errs, "; "))
		}
		return []map[string]string{t}, nil
	}
	if tasks == "" {
		return nil, nil
	}
	data, isFile, err := fileArg(tasks)
	if err != nil {
		return nil, cmdutil.FlagErrorf("--tasks: %v", err)
	}
	if !isFile {
		data = []byte(tasks)
	}
	var list []map[string]any
	if err := readDocument(data, &list); err != nil {
		return nil, cmdutil.FlagErrorf("--tasks: must be a JSON or YAML list of objects of task parameter values: %v", err)
	}
	out := make([]map[string]string, 0, len(list))
	for i, m := range list {
		t := map[string]string{}
		for k, v := range m {
			switch v.(type) {
			case string, int, int64, float64, uint64:
				t[k] = fmt.Sprint(v)
			default:
				return nil, cmdutil.FlagErrorf("--tasks: task %d: the value of %s must be a string or a number", i, k)
			}
		}
		out = append(out, t)
	}
	return out, nil
}

// parsePathMapping reads --path-mapping-rules.
func parsePathMapping(arg string) ([]session.PathMappingRule, error) {
	if arg == "" {
		return nil, nil
	}
	js, err := pathMappingJSON(arg)
	if err != nil {
		return nil, err
	}
	rules, err := session.ParsePathMappingRules(js)
	if err != nil {
		return nil, cmdutil.FlagErrorf("--path-mapping-rules: %v", err)
	}
	return rules, nil
}

// pathMappingJSON reads --path-mapping-rules (JSON or YAML, inline or
// file://) as JSON.
func pathMappingJSON(arg string) ([]byte, error) {
	data, isFile, err := fileArg(arg)
	if err != nil {
		return nil, cmdutil.FlagErrorf("--path-mapping-rules: %v", err)
	}
	if !isFile {
		data = []byte(arg)
	}
	// Read YAML or JSON, then hand the parser JSON.
	var doc any
	if err := readDocument(data, &doc); err != nil {
		return nil, cmdutil.FlagErrorf("--path-mapping-rules: %v", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return nil, cmdutil.FlagErrorf("--path-mapping-rules: %v", err)
	}
	return js, nil
}
