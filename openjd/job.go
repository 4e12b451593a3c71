package openjd

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// JobInput is what a job is made of besides its template: the submitted
// parameter values and the environment templates applied to it.
type JobInput struct {
	// Parameters are the submitted values by parameter name, as text (a
	// number as its decimal text).
	Parameters map[string]string
	// Environments are the environment templates applied to the job, in
	// the order their environments are entered; their parameter
	// definitions are merged with the job template's.
	Environments []*EnvironmentTemplate
	// TemplateDir is the directory of the job template: relative defaults
	// of PATH parameters are joined with it and must stay inside it.
	// Defaults to WorkingDir.
	TemplateDir string
	// WorkingDir is the directory relative PATH values given at submission
	// are joined with. Defaults to the current directory.
	WorkingDir string
}

// Job is a job template instantiated with parameter values (How Jobs Are
// Constructed): every format string resolved at job creation has been
// resolved and checked, and each step has its set of tasks.
type Job struct {
	Template     *JobTemplate
	Environments []*EnvironmentTemplate
	// Name is the resolved job name.
	Name string
	// ParameterDefinitions are the merged definitions; Parameters their
	// values, in the same order.
	ParameterDefinitions []ParameterDefinition
	Parameters           []ParameterValue
	Steps                []JobStep
}

// ParameterValue is the value of a job parameter. INT values are in
// canonical base-10 form, FLOAT values as given, PATH values absolute
// (relative ones joined with the template or working directory).
type ParameterValue struct {
	Name  string
	Type  ParameterType
	Value string
}

// JobStep is a step of a job: the template step with its resolved tasks
// and host requirements.
type JobStep struct {
	*Step
	// Space is the step's tasks; nil when the step has no parameter space
	// and runs once.
	Space *ParameterSpace
	// Requirements are the resolved host requirements; nil if none.
	Requirements *ResolvedHostRequirements
}

// TaskCount returns the number of tasks (chunks, for a chunked step) of the
// step.
func (s *JobStep) TaskCount() int64 {
	if s.Space == nil {
		return 1
	}
	return s.Space.Len()
}

// Step returns the step named name, or nil.
func (j *Job) Step(name string) *JobStep {
	for i := range j.Steps {
		if j.Steps[i].Name == name {
			return &j.Steps[i]
		}
	}
	return nil
}

// Scope returns the values format strings resolved at job creation see:
// Param.<name> and RawParam.<name> of every job parameter. (On a worker
// host Param.<name> of a PATH parameter is path-mapped; see package
// openjd/session.)
func (j *Job) Scope() MapScope {
	return paramScope(j.Parameters)
}

func paramScope(params []ParameterValue) MapScope {
	m := make(MapScope, 2*len(params))
	for _, p := range params {
		m["Param."+p.Name] = p.Value
		m["RawParam."+p.Name] = p.Value
	}
	return m
}

// CreateJob instantiates a job template: it merges the parameter
// definitions of the template and the applied environment templates,
// checks the submitted values (unknown names, types, constraints), fills
// in defaults, and resolves and checks what depends on the values: the job
// name, the steps' parameter spaces, host requirements, and the timeouts
// and notify periods given as format strings (FEATURE_BUNDLE_1). On
// failure the error is an [Errors].
func CreateJob(t *JobTemplate, in JobInput) (*Job, error) {
	wd := in.WorkingDir
	if wd == "" {
		var err error
		if wd, err = os.Getwd(); err != nil {
			return nil, fmt.Errorf("creating the job: %w", err)
		}
	}
	wd, _ = filepath.Abs(wd)
	tdir := in.TemplateDir
	if tdir == "" {
		tdir = wd
	}
	tdir, _ = filepath.Abs(tdir)

	defs, err := MergeParameterDefinitions(t.ParameterDefinitions, in.Environments...)
	if err != nil {
		return nil, err
	}
	var c collector
	j := &Job{Template: t, Environments: in.Environments, ParameterDefinitions: defs}
	for name := range in.Parameters {
		if !slices.ContainsFunc(defs, func(d ParameterDefinition) bool { return d.Name == name }) {
			c.errorf("parameters."+name, "the template defines no parameter %s", name)
		}
	}
	for i := range defs {
		d := &defs[i]
		v, ok := parameterValue(&c, d, in.Parameters, tdir, wd)
		if ok {
			j.Parameters = append(j.Parameters, ParameterValue{Name: d.Name, Type: d.Type, Value: v})
		}
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	scope := j.Scope()
	ext := extSetOf(t.Extensions)
	lim := limitsFor(ext)

	if name, err := t.Name.Resolve(scope); err != nil {
		c.errorf("name", "%v", err)
	} else {
		switch {
		case name == "":
			c.errorf("name", "resolves to an empty name")
		case hasCc(name):
			c.errorf("name", "resolves to a name with control characters")
		case runeLen(name) > lim.jobName:
			c.errorf("name", "resolves to %d characters, more than the maximum of %d", runeLen(name), lim.jobName)
		}
		j.Name = name
	}
	if ext.has(ExprExtension) {
		scope["Job.Name"] = j.Name
	}
	c.checkWrapLayers(t, in.Environments)
	for i := range t.JobEnvironments {
		c.checkEnvTimeouts(&t.JobEnvironments[i], index("jobEnvironments", i), scope)
	}
	for k, e := range in.Environments {
		c.checkEnvTimeouts(&e.Environment, fmt.Sprintf("environments[%d].environment", k), scope)
	}
	for i := range t.Steps {
		s := &t.Steps[i]
		path := index("steps", i)
		js := JobStep{Step: s}
		var scope Scope = scope
		if ext.has(ExprExtension) {
			sm := j.Scope()
			sm["Job.Name"], sm["Step.Name"] = j.Name, s.Name
			var err error
			if scope, err = BindLets(sm, s.Let); err != nil {
				c.errorf(field(path, "let"), "%v", err)
				continue
			}
		}
		if s.ParameterSpace != nil {
			sp, err := s.ParameterSpace.Space(scope)
			if err != nil {
				c.errorf(field(path, "parameterSpace"), "%v", err)
			} else {
				js.Space = sp
			}
		}
		if s.HostRequirements != nil {
			js.Requirements = c.resolveHostRequirements(s.HostRequirements, field(path, "hostRequirements"), scope)
		}
		for k := range s.StepEnvironments {
			c.checkEnvTimeouts(&s.StepEnvironments[k], index(field(path, "stepEnvironments"), k), scope)
		}
		switch {
		case s.Script != nil:
			c.checkActionTimeouts(s.Script.OnRun.Timeout, s.Script.OnRun.Cancelation, field(path, "script.actions.onRun"), scope)
		case s.SimpleAction != nil:
			c.checkActionTimeouts(s.SimpleAction.Timeout, s.SimpleAction.Cancelation, field(path, s.SimpleAction.Interpreter), scope)
		}
		j.Steps = append(j.Steps, js)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	return j, nil
}

// parameterValue returns the value of one merged parameter: the submitted
// one or the default, checked against the definition.
func parameterValue(c *collector, d *ParameterDefinition, given map[string]string, tdir, wd string) (string, bool) {
	path := "parameters." + d.Name
	v, submitted := given[d.Name]
	if !submitted {
		if d.Default == nil {
			c.errorf(path, "no value given and the parameter has no default")
			return "", false
		}
		v = *d.Default
		if d.Type == ParamPath {
			// A default is relative to the template's directory, which it
			// must not leave; constraints apply to the joined path.
			if filepath.IsAbs(v) {
				c.errorf(path, "the default %q is absolute; a PATH default must be relative to the template's directory", v)
				return "", false
			}
			joined := filepath.Join(tdir, v)
			if !within(tdir, joined) {
				c.errorf(path, "the default %q leads outside the template's directory", v)
				return "", false
			}
			v = joined
		}
		if d.Type == ParamListPath {
			// As for PATH, item by item.
			var err error
			if v, err = joinListPaths(v, tdir, true); err != nil {
				c.errorf(path, "the default: %v", err)
				return "", false
			}
		}
	}
	n, err := d.normalizeValue(v)
	if err == nil {
		err = d.checkValue(n)
	}
	if err != nil {
		if submitted {
			c.errorf(path, "%v", err)
		} else {
			c.errorf(path, "the default: %v", err)
		}
		return "", false
	}
	if submitted && d.Type == ParamPath && !filepath.IsAbs(n) {
		// Constraints apply to the value as submitted; the job gets it
		// joined with the directory it was submitted from.
		n = filepath.Join(wd, n)
	}
	if submitted && d.Type == ParamListPath {
		if n, err = joinListPaths(n, wd, false); err != nil {
			c.errorf(path, "%v", err)
			return "", false
		}
	}
	return n, true
}

func extSetOf(exts []Extension) extSet {
	var s extSet
	for _, e := range exts {
		s |= extBit(e)
	}
	return s
}

func (c *collector) checkEnvTimeouts(e *Environment, path string, scope Scope) {
	if e.Script == nil {
		return
	}
	if a := e.Script.OnEnter; a != nil {
		c.checkActionTimeouts(a.Timeout, a.Cancelation, field(path, "script.actions.onEnter"), scope)
	}
	if a := e.Script.OnExit; a != nil {
		c.checkActionTimeouts(a.Timeout, a.Cancelation, field(path, "script.actions.onExit"), scope)
	}
}

// checkActionTimeouts resolves the timeout and notify period of an action
// when they are format strings (FEATURE_BUNDLE_1) and checks their range.
func (c *collector) checkActionTimeouts(timeout *IntOrFormat, cancel *Cancelation, path string, scope Scope) {
	if timeout != nil && timeout.Format != nil {
		if v, ok, err := timeout.ResolveOptional(scope); err != nil {
			c.errorf(field(path, "timeout"), "%v", err)
		} else if ok && v < 1 {
			c.errorf(field(path, "timeout"), "resolves to %d, less than the minimum of 1", v)
		}
	}
	if cancel != nil && cancel.ModeFormat != nil {
		if _, _, err := cancel.ResolveMode(scope); err != nil {
			c.errorf(field(path, "cancelation.mode"), "%v", err)
		}
	}
	if cancel != nil && cancel.NotifyPeriodInSeconds != nil && cancel.NotifyPeriodInSeconds.Format != nil {
		p := field(path, "cancelation.notifyPeriodInSeconds")
		if v, ok, err := cancel.NotifyPeriodInSeconds.ResolveOptional(scope); err != nil {
			c.errorf(p, "%v", err)
		} else if ok && (v < 1 || v > maxNotifyPeriod) {
			c.errorf(p, "resolves to %d, outside [1, %d]", v, maxNotifyPeriod)
		}
	}
}
