package openjd

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/iostreams"
	model "github.com/berth-run/berth/openjd"
	"github.com/berth-run/berth/openjd/localrun"
)

// SummaryOptions are the flags of `berth openjd summary`.
type SummaryOptions struct {
	IO *iostreams.IOStreams

	Template     string
	Params       []string
	Environments []string
	Step         string
	Extensions   []model.Extension
	Output       string
}

// NewCmdSummary returns `berth openjd summary`; runF replaces its
// behaviour in tests.
func NewCmdSummary(f *cmdutil.Factory, runF func(context.Context, *SummaryOptions) error) *cobra.Command {
	opts := &SummaryOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "summary TEMPLATE [flags]",
		Short: "Show the job a template makes with given parameters",
		Long: `Create the job of a template with the given parameter values (checked
against their definitions, defaults filled in) and show its parameters,
steps, task counts, dependencies and environments. Parameter spaces are
counted without being listed, so a step of millions of tasks is cheap.`,
		Example: `  berth openjd summary job.yaml -p Frames=1-100 -p file://params.json
  berth openjd summary job.yaml --step Render --output json`,
		Args: cmdutil.ExactArgs(1, "a job template file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Template = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return runSummary(opts)
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVarP(&opts.Params, "job-param", "p", nil,
		"A job parameter value: NAME=VALUE, a JSON object of values, or file://FILE (JSON or YAML) (repeatable)")
	fs.Var(appendValue{&opts.Environments}, "environment", "An environment template applied to the job (repeatable)")
	fs.StringVar(&opts.Step, "step", "", "Summarize this step only")
	fs.StringVar(&opts.Step, "step-name", "", "Same as --step")
	_ = fs.MarkHidden("step-name")
	extensionsVar(fs, &opts.Extensions)
	outputVar(fs, &opts.Output)
	return cmd
}

// jobSummary is the JSON form of a summary.
type jobSummary struct {
	Name              string         `json:"name"`
	Parameters        []paramSummary `json:"parameters"`
	TotalSteps        int            `json:"total_steps"`
	TotalTasks        int64          `json:"total_tasks"`
	TotalChunks       int64          `json:"total_chunks"`
	TotalEnvironments int            `json:"total_environments"`
	Environments      []envSummary   `json:"environments"`
	Steps             []stepSummary  `json:"steps"`
}

type paramSummary struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

type envSummary struct {
	Name   string `json:"name"`
	Parent string `json:"parent"`
}

type stepSummary struct {
	Name           string         `json:"name"`
	TaskParameters []paramSummary `json:"task_parameters"`
	TotalTasks     int64          `json:"total_tasks"`
	TotalChunks    int64          `json:"total_chunks"`
	Chunked        bool           `json:"chunked,omitempty"`
	Environments   []envSummary   `json:"environments"`
	Dependencies   []string       `json:"dependencies"`
}

func loadJob(template string, params, envFiles []string, ext []model.Extension) (*model.Job, error) {
	data, dir, err := readTemplate(template)
	if err != nil {
		return nil, err
	}
	values, err := parseJobParams(params)
	if err != nil {
		return nil, err
	}
	in := localrun.Input{Template: data, TemplateDir: dir, Parameters: values, Extensions: ext, EnvironmentNames: envFiles}
	for _, e := range envFiles {
		b, _, err := readTemplate(e)
		if err != nil {
			return nil, err
		}
		in.Environments = append(in.Environments, b)
	}
	return localrun.Load(in)
}

func runSummary(opts *SummaryOptions) error {
	job, err := loadJob(opts.Template, opts.Params, opts.Environments, opts.Extensions)
	if err != nil {
		return err
	}
	s := summarize(job)
	if opts.Step != "" {
		var found *stepSummary
		for i := range s.Steps {
			if s.Steps[i].Name == opts.Step {
				found = &s.Steps[i]
			}
		}
		if found == nil {
			return fmt.Errorf("no step named %q is defined in the job template", opts.Step)
		}
		if opts.Output == outputJSON {
			return cmdutil.PrintJSON(opts.IO.Out, found)
		}
		_, err := fmt.Fprint(opts.IO.Out, humanStep(s.Name, found))
		return err
	}
	if opts.Output == outputJSON {
		return cmdutil.PrintJSON(opts.IO.Out, s)
	}
	_, err = fmt.Fprint(opts.IO.Out, humanJob(&s))
	return err
}

func summarize(job *model.Job) jobSummary {
	s := jobSummary{Name: job.Name, TotalSteps: len(job.Steps), Parameters: []paramSummary{}, Environments: []envSummary{}}
	for _, p := range job.Parameters {
		s.Parameters = append(s.Parameters, paramSummary{Name: p.Name, Type: string(p.Type), Value: p.Value})
	}
	for _, e := range job.Environments {
		s.Environments = append(s.Environments, envSummary{Name: e.Environment.Name, Parent: "external"})
	}
	for _, e := range job.Template.JobEnvironments {
		s.Environments = append(s.Environments, envSummary{Name: e.Name, Parent: "root"})
	}
	s.TotalEnvironments = len(s.Environments)
	for i := range job.Steps {
		js := &job.Steps[i]
		st := stepSummary{Name: js.Name, TotalTasks: 1, TotalChunks: js.TaskCount(), TaskParameters: []paramSummary{},
			Environments: []envSummary{}, Dependencies: append([]string{}, js.Dependencies...)}
		if js.Space != nil {
			st.TotalTasks = js.Space.UnchunkedLen()
			for _, p := range js.Space.Params() {
				st.TaskParameters = append(st.TaskParameters, paramSummary{Name: p.Name, Type: string(p.Type)})
				st.Chunked = st.Chunked || p.Type == model.TaskChunkInt
			}
		}
		for _, e := range js.StepEnvironments {
			st.Environments = append(st.Environments, envSummary{Name: e.Name, Parent: js.Name})
		}
		s.TotalTasks += st.TotalTasks
		s.TotalChunks += st.TotalChunks
		s.TotalEnvironments += len(st.Environments)
		s.Steps = append(s.Steps, st)
	}
	return s
}

func humanJob(s *jobSummary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- Summary for '%s' ---\n", s.Name)
	if len(s.Parameters) > 0 {
		b.WriteString("\nParameters:\n")
		for _, p := range s.Parameters {
			fmt.Fprintf(&b, "\t- %s (%s): %s\n", p.Name, p.Type, p.Value)
		}
	}
	fmt.Fprintf(&b, "\nTotal steps: %d\nTotal tasks: %d\nTotal environments: %d\n", s.TotalSteps, s.TotalTasks, s.TotalEnvironments)
	fmt.Fprintf(&b, "\n--- Steps in '%s' ---\n\n", s.Name)
	for i, st := range s.Steps {
		fmt.Fprintf(&b, "%d. '%s'\n", i+1, st.Name)
		if len(st.TaskParameters) > 0 {
			fmt.Fprintf(&b, "\t%d Task parameter(s)\n", len(st.TaskParameters))
		}
		if st.Chunked {
			fmt.Fprintf(&b, "\t%d total Tasks in %d chunks\n", st.TotalTasks, st.TotalChunks)
		} else {
			fmt.Fprintf(&b, "\t%d total Tasks\n", st.TotalTasks)
		}
		if len(st.Environments) > 0 {
			fmt.Fprintf(&b, "\t%d environments\n", len(st.Environments))
		}
		if len(st.Dependencies) > 0 {
			fmt.Fprintf(&b, "\t%d dependencies\n", len(st.Dependencies))
		}
		b.WriteString("\n")
	}
	if s.TotalEnvironments > 0 {
		fmt.Fprintf(&b, "--- Environments in '%s' ---\n", s.Name)
		for _, e := range s.Environments {
			fmt.Fprintf(&b, "- %s (from '%s')\n", e.Name, e.Parent)
		}
		for _, st := range s.Steps {
			for _, e := range st.Environments {
				fmt.Fprintf(&b, "- %s (from '%s')\n", e.Name, e.Parent)
			}
		}
	}
	return b.String()
}

func humanStep(job string, st *stepSummary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n--- Summary for '%s' in '%s' ---\n\n", st.Name, job)
	fmt.Fprintf(&b, "Total tasks: %d\n", st.TotalTasks)
	if st.Chunked {
		fmt.Fprintf(&b, "Total chunks: %d\n", st.TotalChunks)
	}
	fmt.Fprintf(&b, "Total task parameters: %d\nTotal environments: %d\n", len(st.TaskParameters), len(st.Environments))
	if len(st.Dependencies) > 0 {
		fmt.Fprintf(&b, "\nDependencies (%d):\n", len(st.Dependencies))
		for _, d := range st.Dependencies {
			fmt.Fprintf(&b, "- '%s'\n", d)
		}
	}
	if len(st.TaskParameters) > 0 {
		b.WriteString("\nParameters:\n")
		for _, p := range st.TaskParameters {
			fmt.Fprintf(&b, "- %s (%s)\n", p.Name, p.Type)
		}
	}
	if len(st.Environments) > 0 {
		b.WriteString("\nEnvironments:\n")
		for _, e := range st.Environments {
			fmt.Fprintf(&b, "- %s (from '%s')\n", e.Name, e.Parent)
		}
	}
	return b.String()
}
