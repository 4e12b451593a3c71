package openjd

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/iostreams"
	"github.com/berth-run/berth/internal/cli/tableprinter"
	"github.com/berth-run/berth/job"
	model "github.com/berth-run/berth/openjd"
	"github.com/berth-run/berth/openjd/session"
)

// SubmitOptions are the flags of `berth submit`.
type SubmitOptions struct {
	IO     *iostreams.IOStreams
	Client func() (*client.Client, error)

	Template     string
	Params       []string
	Environments []string
	Extensions   []model.Extension
	PathMapping  string
	// Container, with an Image, runs each session in a container.
	Container   ContainerOptions
	Name        string
	Pool        string
	Priority    int
	Hold        bool
	MaxParallel int
	Rerunnable  bool
	MaxAttempts int
	Labels      map[string]string
	Constraints map[string]string
	Wait        bool
	JSON        bool
}

// NewCmdSubmit returns `berth submit`.
func NewCmdSubmit(f *cmdutil.Factory, runF func(context.Context, *SubmitOptions) error) *cobra.Command {
	opts := &SubmitOptions{IO: f.IO, Client: f.Client}
	var ctr *containerFlagSet // set with the flags below
	cmd := &cobra.Command{
		Use:   "submit TEMPLATE [flags]",
		Short: "Submit an Open Job Description job template to the server",
		Long: `Submit a job template to the berth server. The server checks it with the
job parameters (-p) and makes one berth job for the whole OpenJD job (named
by the template's name) and, under it, one job per step (an array with one
task per task of its parameter space, named JOB/STEP and labelled
openjd=N, N the whole job's ID), which starts when the jobs of the steps it
depends on are Done. show, wait, stop, hold, release, rm and receive of the
whole job act on all its steps.

Workers run a step's tasks in sessions: a session enters the --environment
templates', the job's and the step's environments once, runs task after
task of the step in them, and exits them when the step has nothing more
for it. With --image, each session runs in a container of that image:
every action runs in it, and it is removed when the session ends.

Prints a line per step (STEP, JOB, TASKS); --json prints {"job": N,
"name": ..., "steps": [{"step", "job", "tasks"}...]}. --wait then waits for
the whole job and exits 1 if a step failed.`,
		Example: `  berth submit render.yaml -p Frames=1-100
  berth submit job.yaml --environment conda.yaml --pool gpu --wait
  berth submit job.yaml --image busybox --memory 1g --wait
  berth show 3; berth ls --label openjd=3`,
		Args: cmdutil.ExactArgs(1, "a job template file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Template = args[0]
			if opts.MaxParallel < 0 {
				return cmdutil.FlagErrorf("--max-parallel must be 0 (no bound) or more")
			}
			if err := ctr.apply(cmd.Flags(), &opts.Container); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSubmit(cmd.Context(), opts)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVarP(&opts.Params, "job-param", "p", nil,
		"A job parameter value: NAME=VALUE, a JSON object of values, or file://FILE (JSON or YAML) (repeatable)")
	fs.StringArrayVar(&opts.Environments, "environment", nil, "An environment template every session enters first (repeatable, in order)")
	extensionsVar(fs, &opts.Extensions)
	fs.StringVar(&opts.PathMapping, "path-mapping-rules", "", "Path mapping rules (pathmapping-1.0) for every session: JSON, or file://FILE (JSON or YAML)")
	ctr = addContainerFlags(fs, &opts.Container)
	fs.StringVar(&opts.Name, "name", "", "Name of the job (default: the template's resolved name); each step's job is NAME/STEP")
	fs.StringVar(&opts.Pool, "pool", "", "Pool of workers to run on")
	fs.IntVar(&opts.Priority, "priority", 0, "Priority of the jobs")
	fs.BoolVar(&opts.Hold, "hold", false, "Submit the jobs held")
	fs.IntVar(&opts.MaxParallel, "max-parallel", 0, "Run at most this many tasks (sessions) of each step at once (0: no bound)")
	fs.BoolVar(&opts.Rerunnable, "rerunnable", false, "Run a task again after a failure or a lost worker")
	fs.IntVar(&opts.MaxAttempts, "max-attempts", 0, "Runs a rerunnable task gets (default 3)")
	cmdutil.KVVar(fs, &opts.Labels, "label", "Add a label `k=v` to every job (repeatable)")
	cmdutil.KVVar(fs, &opts.Constraints, "constraint", "Run only on workers with the label `k=v` (repeatable)")
	fs.BoolVar(&opts.Wait, "wait", false, "Wait for the whole job to end; exit 1 if a step failed")
	fs.BoolVar(&opts.JSON, "json", false, "Print the submitted jobs as JSON")
	return cmd
}

func runSubmit(ctx context.Context, opts *SubmitOptions) error {
	sub, err := submission(opts)
	if err != nil {
		return err
	}
	c, err := opts.Client()
	if err != nil {
		return err
	}
	res, err := c.SubmitOpenJD(ctx, sub)
	if err != nil {
		return err
	}
	if opts.JSON {
		if err := cmdutil.PrintJSON(opts.IO.Out, res); err != nil {
			return err
		}
	} else {
		t := tableprinter.New(opts.IO.Out, opts.IO.IsStdoutTTY(), "STEP", "JOB", "TASKS")
		for _, s := range res.Steps {
			t.AddRow(s.Step, strconv.FormatInt(s.Job, 10), strconv.Itoa(s.Tasks))
		}
		if err := t.Render(); err != nil {
			return err
		}
		if opts.IO.IsStderrTTY() {
			fmt.Fprintf(opts.IO.ErrOut, "OpenJD job %q is job %d: berth show|wait|stop|rm|receive %d\n", res.Name, res.Job, res.Job)
		}
	}
	if !opts.Wait {
		return nil
	}
	r, err := c.Wait(ctx, []int64{res.Job}, false, 0)
	if err != nil {
		return err
	}
	for _, j := range r.Jobs {
		if j.State != job.Done {
			return cmdutil.Exit(1)
		}
	}
	return nil
}

// submission reads the templates and builds the body of the request.
// Relative PATH values resolve where the command runs; PATH defaults,
// relative to the template's directory.
func submission(opts *SubmitOptions) (*job.OpenJDJob, error) {
	tmpl, dir, err := readTemplate(opts.Template)
	if err != nil {
		return nil, err
	}
	values, err := parseJobParams(opts.Params)
	if err != nil {
		return nil, err
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	sub := &job.OpenJDJob{Template: string(tmpl), TemplateDir: dir, WorkingDir: wd, Parameters: values,
		Name: opts.Name, Pool: opts.Pool, Priority: opts.Priority, Hold: opts.Hold, MaxParallel: opts.MaxParallel,
		Rerunnable: opts.Rerunnable, MaxAttempts: opts.MaxAttempts, Labels: opts.Labels, Constraints: opts.Constraints}
	for _, e := range opts.Environments {
		b, _, err := readTemplate(e)
		if err != nil {
			return nil, fmt.Errorf("environment template %s: %w", e, err)
		}
		sub.Environments = append(sub.Environments, string(b))
	}
	if opts.Extensions != nil {
		sub.Extensions = []string{}
		for _, e := range opts.Extensions {
			sub.Extensions = append(sub.Extensions, string(e))
		}
	}
	if opts.PathMapping != "" {
		js, err := pathMappingJSON(opts.PathMapping)
		if err != nil {
			return nil, err
		}
		if _, err := session.ParsePathMappingRules(js); err != nil {
			return nil, cmdutil.FlagErrorf("--path-mapping-rules: %v", err)
		}
		sub.PathMappingRules = js
	}
	if c := opts.Container; c.Image != "" {
		sub.Container = &job.SessionContainer{Image: c.Image, Mounts: c.Mounts, Extensions: c.Extensions}
	}
	return sub, nil
}
