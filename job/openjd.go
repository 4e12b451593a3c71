package job

import (
	"encoding/json"
	"strings"
)

// OpenJDStep makes a job one step of an Open Job Description job: its
// tasks are the step's tasks, in parameter-space order, and workers run
// them in sessions (docs/openjd.md) rather than from Template, whose
// Command stays empty.
type OpenJDStep struct {
	// Submission is the stored OpenJD job (OpenJDJob, in the store) the
	// step belongs to.
	Submission int64 `json:"submission"`
	// Step is the step's name in the job template; "" on the job that
	// stands for the whole OpenJD job.
	Step string `json:"step"`
	// Job is the job that stands for the whole OpenJD job, the parent of
	// its steps' jobs (see Job.Steps).
	Job int64 `json:"job,omitempty"`
}

// OpenJDJob is an Open Job Description job as submitted to the server
// (POST /v1/openjd/jobs), and as stored for the workers that run it.
type OpenJDJob struct {
	// Template is the job template, YAML or JSON. Required.
	Template string `json:"template"`
	// Environments are environment templates every session enters first,
	// in order.
	Environments []string `json:"environments,omitempty"`
	// Parameters are the job parameter values. Stored, they are the values
	// as resolved at submit (defaults filled in, PATH values absolute).
	Parameters map[string]string `json:"parameters,omitempty"`
	// PathMappingRules are given to every session (pathmapping-1.0 JSON).
	PathMappingRules json.RawMessage `json:"path_mapping_rules,omitempty"`
	// Extensions the job may use. Defaults to every extension berth
	// implements.
	Extensions []string `json:"extensions,omitempty"`
	// WorkingDir and TemplateDir resolve relative PATH parameter values and
	// defaults; absolute paths. The CLI sets them to where it runs and to
	// the template's directory.
	WorkingDir  string `json:"working_dir,omitempty"`
	TemplateDir string `json:"template_dir,omitempty"`
	// Container, when set, runs each session in a container of its own
	// (the built-in container environment).
	Container *SessionContainer `json:"container,omitempty"`

	// Name replaces the resolved job name as the name of the berth jobs.
	Name        string            `json:"name,omitempty"`
	Pool        string            `json:"pool,omitempty"`
	Priority    int               `json:"priority,omitempty"`
	Hold        bool              `json:"hold,omitempty"`
	MaxParallel int               `json:"max_parallel,omitempty"`
	Rerunnable  bool              `json:"rerunnable,omitempty"`
	MaxAttempts int               `json:"max_attempts,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Constraints map[string]string `json:"constraints,omitempty"`
}

// SessionContainer is the container a session runs in: every action of
// the session is run inside it.
type SessionContainer struct {
	Image string `json:"image"`
	// Mounts are bind mounts (RW for writable); the session's working
	// directory is always mounted at its own path.
	Mounts []Mount `json:"mounts,omitempty"`
	// Extensions are container settings as for a container job's
	// template (memory, cpus, pids, net, user, ...; docs/docker.md).
	Extensions map[string]string `json:"extensions,omitempty"`
}

// OpenJDLabel is the label every step's job of an OpenJD job carries, with
// the ID of the job standing for the whole OpenJD job as its value:
// `--label openjd=N` selects the steps of OpenJD job N.
const OpenJDLabel = "openjd"

// MaxOpenJDBytes bounds the templates of one OpenJD job together.
const MaxOpenJDBytes = 8 << 20

// Validate checks what can be checked without the openjd package (the
// server parses the templates) and returns a *FieldError.
func (o *OpenJDJob) Validate() error {
	if strings.TrimSpace(o.Template) == "" {
		return fieldErr("template", "is required")
	}
	n := len(o.Template)
	for _, e := range o.Environments {
		n += len(e)
	}
	if n > MaxOpenJDBytes {
		return fieldErr("template", "the templates together are larger than %d MiB", MaxOpenJDBytes>>20)
	}
	for k, v := range o.Parameters {
		if strings.ContainsRune(k, 0) || strings.ContainsRune(v, 0) {
			return fieldErr("parameters."+k, "must not contain NUL")
		}
	}
	for _, f := range []struct{ name, path string }{{"working_dir", o.WorkingDir}, {"template_dir", o.TemplateDir}} {
		if f.path != "" {
			if err := checkPath(f.name, f.path); err != nil {
				return err
			}
		}
	}
	if c := o.Container; c != nil {
		if strings.TrimSpace(c.Image) == "" || strings.ContainsRune(c.Image, 0) {
			return fieldErr("container.image", "is required")
		}
		if err := validateMounts("container.mounts", c.Mounts, false); err != nil {
			return err
		}
		if _, err := ParseContainerExtensions(c.Extensions, "container."); err != nil {
			return err
		}
	}
	// The scheduling fields are those of every step's job.
	probe := Spec{Name: o.Name, Pool: o.Pool, Priority: o.Priority, MaxParallel: o.MaxParallel,
		Labels: o.Labels, Constraints: o.Constraints, Template: Template{Command: "openjd", MaxAttempts: o.MaxAttempts}}
	if err := probe.Validate(); err != nil {
		return err
	}
	if o.MaxAttempts < 0 {
		return fieldErr("max_attempts", "must not be negative")
	}
	return nil
}

// OpenJDSubmitted answers an OpenJD submission.
type OpenJDSubmitted struct {
	// Job is the job that stands for the whole OpenJD job: `berth show`,
	// wait, stop, rm, receive of it act on all its steps. Every step's job
	// carries the label OpenJDLabel=Job.
	Job int64 `json:"job"`
	// Submission numbers the stored templates and values.
	Submission int64 `json:"submission"`
	// Name is the OpenJD job's resolved name.
	Name  string         `json:"name"`
	Steps []OpenJDStepID `json:"steps"`
}

// OpenJDStepID is the job of one step.
type OpenJDStepID struct {
	Step  string `json:"step"`
	Job   int64  `json:"job"`
	Tasks int    `json:"tasks"`
}

func (s *OpenJDStep) validate(t *Template) error {
	switch {
	case s.Submission <= 0:
		return fieldErr("openjd.submission", "must be positive")
	case s.Step == "" || strings.ContainsRune(s.Step, 0):
		return fieldErr("openjd.step", "must be a step name")
	case t.Command != "" || len(t.Args) > 0 || t.Image != "":
		return fieldErr("template.command", "a step of an OpenJD job runs its template's actions, not a command")
	case t.MaxAttempts < 0:
		return fieldErr("template.max_attempts", "must not be negative")
	}
	return nil
}
