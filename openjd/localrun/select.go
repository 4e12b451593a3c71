package localrun

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-run/berth/openjd"
	"github.com/berth-run/berth/openjd/session"
)

// selectSteps returns the steps to run, in order, and the selected one
// (nil when every step runs).
func selectSteps(job *openjd.Job, opts Options) ([]*openjd.JobStep, *openjd.JobStep, error) {
	var selected *openjd.JobStep
	switch {
	case opts.Step != "":
		if selected = job.Step(opts.Step); selected == nil {
			return nil, nil, fmt.Errorf("no step named %q is defined in the job template", opts.Step)
		}
	case len(job.Steps) == 1:
		selected = &job.Steps[0]
	case len(opts.Tasks) > 0:
		names := make([]string, len(job.Steps))
		for i := range job.Steps {
			names[i] = job.Steps[i].Name
		}
		return nil, nil, fmt.Errorf("giving task parameters needs --step, or a job with a single step; the job has %d steps: %s",
			len(job.Steps), strings.Join(names, ", "))
	}
	if selected == nil {
		return TopoSort(job), nil, nil
	}
	if !opts.RunDependencies {
		return []*openjd.JobStep{selected}, selected, nil
	}
	return append(dependencies(job, selected), selected), selected, nil
}

// TopoSort returns the steps of a job so that every step comes after the
// steps it depends on; steps keep their template order otherwise. The
// template check has ruled out cycles.
func TopoSort(job *openjd.Job) []*openjd.JobStep {
	var out []*openjd.JobStep
	done := map[string]bool{}
	var visit func(js *openjd.JobStep)
	visit = func(js *openjd.JobStep) {
		if done[js.Name] {
			return
		}
		done[js.Name] = true
		for _, d := range js.Dependencies {
			if dep := job.Step(d); dep != nil {
				visit(dep)
			}
		}
		out = append(out, js)
	}
	for i := range job.Steps {
		visit(&job.Steps[i])
	}
	return out
}

// dependencies returns the steps js depends on, directly or not, in an
// order that runs each after its own dependencies.
func dependencies(job *openjd.Job, js *openjd.JobStep) []*openjd.JobStep {
	need := map[string]bool{}
	var mark func(s *openjd.JobStep)
	mark = func(s *openjd.JobStep) {
		for _, d := range s.Dependencies {
			if !need[d] {
				need[d] = true
				if dep := job.Step(d); dep != nil {
					mark(dep)
				}
			}
		}
	}
	mark(js)
	var out []*openjd.JobStep
	for _, s := range TopoSort(job) {
		if need[s.Name] {
			out = append(out, s)
		}
	}
	return out
}

// explicitTasks checks tasks given by name and value against the step's
// parameter space and returns them in definition order.
func explicitTasks(js *openjd.JobStep, tasks []map[string]string) ([][]session.TaskParam, error) {
	if js.Space == nil {
		return nil, fmt.Errorf("step %q has no parameter space; task parameters cannot be given", js.Name)
	}
	params := js.Space.Params()
	var errs []string
	out := make([][]session.TaskParam, 0, len(tasks))
	for i, t := range tasks {
		var extra, missing []string
		for name := range t {
			if !slices.ContainsFunc(params, func(p openjd.TaskParameter) bool { return p.Name == name }) {
				extra = append(extra, name)
			}
		}
		task := make([]session.TaskParam, 0, len(params))
		for _, p := range params {
			v, ok := t[p.Name]
			if !ok {
				missing = append(missing, p.Name)
				continue
			}
			norm, err := inSpace(p, v)
			if err != nil {
				errs = append(errs, fmt.Sprintf("task %d: parameter %s: %v", i, p.Name, err))
				continue
			}
			task = append(task, session.TaskParam{Name: p.Name, Type: p.Type, Value: norm})
		}
		sort.Strings(extra)
		if len(extra) > 0 {
			errs = append(errs, fmt.Sprintf("task %d defines unknown parameters: %s", i, strings.Join(extra, ", ")))
		}
		if len(missing) > 0 {
			errs = append(errs, fmt.Sprintf("task %d is missing values for parameters: %s", i, strings.Join(missing, ", ")))
		}
		out = append(out, task)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("errors in the task parameter values:\n - %s", strings.Join(errs, "\n - "))
	}
	return out, nil
}

// inSpace checks that v is one of p's values (for CHUNK[INT], a set of
// them) and returns it as format strings will show it.
func inSpace(p openjd.TaskParameter, v string) (string, error) {
	switch p.Type {
	case openjd.TaskInt:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return "", fmt.Errorf("%q is not an integer", v)
		}
		if !containsInt(p.Values, n) {
			return "", fmt.Errorf("%d is not in the parameter's range", n)
		}
		return strconv.FormatInt(n, 10), nil
	case openjd.TaskChunkInt:
		r, err := openjd.ParseIntRange(v)
		if err != nil {
			return "", err
		}
		if p.Chunks != nil && p.Chunks.Contiguous && r.At(r.Len()-1)-r.At(0)+1 != r.Len() {
			return "", fmt.Errorf("%q is not one run of consecutive values, as a CONTIGUOUS chunk must be", v)
		}
		for i := range r.Len() {
			if !containsInt(p.Values, r.At(i)) {
				return "", fmt.Errorf("%d is not in the parameter's range", r.At(i))
			}
		}
		return strings.TrimSpace(v), nil
	case openjd.TaskFloat:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return "", fmt.Errorf("%q is not a number", v)
		}
		for _, s := range p.Values.Strings {
			if g, err := strconv.ParseFloat(s, 64); err == nil && g == f {
				return s, nil
			}
		}
		return "", fmt.Errorf("%s is not in the parameter's range", v)
	}
	if !slices.Contains(p.Values.Strings, v) {
		return "", fmt.Errorf("%q is not in the parameter's range", v)
	}
	return v, nil
}

func containsInt(v openjd.TaskValues, n int64) bool {
	if v.Range != nil {
		return v.Range.Contains(n)
	}
	return slices.Contains(v.Ints, n)
}
