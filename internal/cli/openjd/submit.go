package openjd

import (
	"context"
	"encoding/json"
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
	"github.com/berth-run/berth/openjd/localrun"
)

// Environment variables that carry the templates to a submitted job's
// tasks, which may run on a host without the files.
const (
	envTemplate       = "BERTH_OPENJD_TEMPLATE"
	envEnvironmentFmt = "BERTH_OPENJD_ENVIRONMENT_%d"
)

// SubmitOptions are the flags of `berth submit`.
type SubmitOptions struct {
	IO     *iostreams.IOStreams
	Client func() (*client.Client, error)

	Template     string
	Params       []string
	Environments []string
	Extensions   []model.Extension
	// Berth is the berth executable the tasks run; it must exist on the
	// workers' hosts.
	Berth       string
	Name        string
	Pool        string
	Priority    int
	Hold        bool
	MaxParallel int
	Rerunnable  bool
	Labels      map[string]string
	Constraints map[string]string
	Wait        bool
	JSON        bool
}

// NewCmdSubmit returns `berth submit`.
func NewCmdSubmit(f *cmdutil.Factory, runF func(context.Context, *SubmitOptions) error) *cobra.Command {
	opts := &SubmitOptions{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "submit TEMPLATE [flags]",
		Short: "Submit an Open Job Description job template to the server",
		Long: `Submit a job template to the berth server: each step becomes a berth job
(an array with one task per task of its parameter space) that starts when
the jobs of the steps it depends on are Done. Each task runs as
"berth openjd run --step STEP" of that one task on a worker: a session that
enters the --environment templates', the job's and the step's environments,
runs the task, and exits them.

The template is checked here first, with the job parameters (-p), and is
sent with the jobs, so workers need only berth itself (at --berth, default
this executable's path).

Prints a line per step (STEP, JOB, TASKS); --wait then waits for every step
and exits 1 if one failed.`,
		Example: `  berth submit render.yaml -p Frames=1-100
  berth submit job.yaml --environment conda.yaml --pool gpu --wait`,
		Args: cmdutil.ExactArgs(1, "a job template file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Template = args[0]
			if opts.MaxParallel < 0 {
				return cmdutil.FlagErrorf("--max-parallel must be 0 (no bound) or more")
			}
			if opts.Berth == "" {
				exe, err := os.Executable()
				if err != nil {
					return fmt.Errorf("finding berth's executable: %w (give --berth)", err)
				}
				opts.Berth = exe
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
	fs.StringArrayVar(&opts.Environments, "environment", nil, "An environment template every task's session enters first (repeatable, in order)")
	extensionsVar(fs, &opts.Extensions)
	fs.StringVar(&opts.Berth, "berth", "", "The berth executable on the workers (default: this one's path)")
	fs.StringVar(&opts.Name, "name", "", "Prefix of the jobs' names (default: the job's name); each is NAME/STEP")
	fs.StringVar(&opts.Pool, "pool", "", "Pool of workers to run on")
	fs.IntVar(&opts.Priority, "priority", 0, "Priority of the jobs")
	fs.BoolVar(&opts.Hold, "hold", false, "Submit the jobs held")
	fs.IntVar(&opts.MaxParallel, "max-parallel", 0, "Run at most this many tasks of each step at once (0: no bound)")
	fs.BoolVar(&opts.Rerunnable, "rerunnable", false, "Run a task again after a failure or a lost worker")
	cmdutil.KVVar(fs, &opts.Labels, "label", "Add a label `k=v` to every job (repeatable)")
	cmdutil.KVVar(fs, &opts.Constraints, "constraint", "Run only on workers with the label `k=v` (repeatable)")
	fs.BoolVar(&opts.Wait, "wait", false, "Wait for every step's job to end; exit 1 if one failed")
	fs.BoolVar(&opts.JSON, "json", false, "Print the submitted jobs as JSON")
	return cmd
}

// submitted is one step's job.
type submitted struct {
	Step  string `json:"step"`
	Job   int64  `json:"job"`
	Tasks int64  `json:"tasks"`
}

func runSubmit(ctx context.Context, opts *SubmitOptions) error {
	oj, err := loadJob(opts.Template, opts.Params, opts.Environments, opts.Extensions)
	if err != nil {
		return err
	}
	specs, err := submitSpecs(oj, opts)
	if err != nil {
		return err
	}
	c, err := opts.Client()
	if err != nil {
		return err
	}
	ids := map[string]int64{}
	var out []submitted
	for _, ss := range specs {
		for _, dep := range ss.deps {
			ss.spec.After = append(ss.spec.After, ids[dep])
		}
		j, err := c.Submit(ctx, ss.spec)
		if err != nil {
			return fmt.Errorf("submitting step %q: %w", ss.step, err)
		}
		ids[ss.step] = j.ID
		out = append(out, submitted{Step: ss.step, Job: j.ID, Tasks: ss.tasks})
	}
	if opts.JSON {
		if err := cmdutil.PrintJSON(opts.IO.Out, out); err != nil {
			return err
		}
	} else {
		t := tableprinter.New(opts.IO.Out, opts.IO.IsStdoutTTY(), "STEP", "JOB", "TASKS")
		for _, s := range out {
			t.AddRow(s.Step, strconv.FormatInt(s.Job, 10), strconv.FormatInt(s.Tasks, 10))
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	if !opts.Wait {
		return nil
	}
	all := make([]int64, len(out))
	for i, s := range out {
		all[i] = s.Job
	}
	r, err := c.Wait(ctx, all, false, 0)
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

// stepSpec is the job of one step, and the steps it waits for.
type stepSpec struct {
	step  string
	tasks int64
	spec  job.Spec
	deps  []string
}

// submitSpecs makes the job of each step, in dependency order.
func submitSpecs(oj *model.Job, opts *SubmitOptions) ([]stepSpec, error) {
	tmpl, _, err := readTemplate(opts.Template)
	if err != nil {
		return nil, err
	}
	env := map[string]string{envTemplate: string(tmpl)}
	// The parameters as resolved here (PATH values absolute), so that every
	// task sees the same values wherever it runs.
	values := map[string]string{}
	for _, p := range oj.Parameters {
		values[p.Name] = p.Value
	}
	params, err := json.Marshal(values)
	if err != nil {
		return nil, err
	}
	var envArgs []string
	for i, e := range opts.Environments {
		b, _, err := readTemplate(e)
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf(envEnvironmentFmt, i+1)
		env[name] = string(b)
		envArgs = append(envArgs, "--environment", "env:"+name)
	}
	var extArgs []string
	if len(opts.Extensions) > 0 {
		names := ""
		for i, e := range opts.Extensions {
			if i > 0 {
				names += ","
			}
			names += string(e)
		}
		extArgs = []string{"--extensions", names}
	}
	wd, _ := os.Getwd()
	prefix := opts.Name
	if prefix == "" {
		prefix = oj.Name
	}
	var out []stepSpec
	for _, js := range localrun.TopoSort(oj) {
		args := append([]string{"openjd", "run", "env:" + envTemplate, "--step", js.Name, "--berth-task",
			"-p", string(params)}, envArgs...)
		spec := job.Spec{
			Name: truncateName(prefix + "/" + js.Name),
			Template: job.Template{
				Command:    opts.Berth,
				Args:       append(args, extArgs...),
				Env:        env,
				Rerunnable: opts.Rerunnable,
			},
			Pool:        opts.Pool,
			Priority:    opts.Priority,
			Hold:        opts.Hold,
			MaxParallel: opts.MaxParallel,
			Labels:      opts.Labels,
			Constraints: opts.Constraints,
			SubmitDir:   wd,
		}
		n := js.TaskCount()
		if js.Space != nil {
			if n > int64(job.MaxArrayTasks) {
				return nil, fmt.Errorf("step %q has %d tasks; a berth job holds at most %d", js.Name, n, job.MaxArrayTasks)
			}
			spec.Array = &job.Array{Begin: 1, End: int(n), Step: 1}
		}
		if err := spec.Validate(); err != nil {
			return nil, fmt.Errorf("step %q: %w", js.Name, err)
		}
		ss := stepSpec{step: js.Name, tasks: n, spec: spec}
		ss.deps = js.Dependencies
		out = append(out, ss)
	}
	return out, nil
}

// truncateName keeps a job name within job.MaxNameLen bytes.
func truncateName(s string) string {
	if len(s) <= job.MaxNameLen {
		return s
	}
	return s[:job.MaxNameLen]
}
