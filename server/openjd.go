package server

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/openjd"
	"github.com/berth-run/berth/openjd/localrun"
	"github.com/berth-run/berth/openjd/session"
	"github.com/berth-run/berth/scheduler"
)

// submitOpenJD takes an Open Job Description job: it checks the templates
// and parameter values as `berth openjd check` would, then submits one job
// per step, in dependency order.
func (s *Server) submitOpenJD(w http.ResponseWriter, r *http.Request) {
	if err := newQuery(r).Err(); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	var sub job.OpenJDJob
	if err := decodeBody(w, r, &sub); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	if err := sub.Validate(); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	oj, steps, err := openjdSteps(&sub)
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	who := owner(r.Context())
	for i := range steps {
		steps[i].Spec.Owner = who
	}
	parent := job.Spec{Name: truncateName(cmp.Or(sub.Name, oj.Name)), Owner: who, Labels: sub.Labels,
		Pool: sub.Pool, Priority: sub.Priority, Constraints: sub.Constraints, SubmitDir: sub.WorkingDir}
	pid, ids, err := s.cfg.Scheduler.SubmitOpenJD(r.Context(), &sub, parent, steps)
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	out := job.OpenJDSubmitted{Job: pid, Name: oj.Name, Steps: make([]job.OpenJDStepID, len(ids))}
	for i, id := range ids {
		out.Steps[i] = job.OpenJDStepID{Step: steps[i].Spec.OpenJD.Step, Job: id, Tasks: steps[i].Spec.TaskCount()}
	}
	if j, err := s.cfg.Store.JobGet(r.Context(), pid); err == nil && j.OpenJD != nil {
		out.Submission = j.OpenJD.Submission
	}
	w.Header().Set("Location", fmt.Sprintf("/v1/jobs/%d", pid))
	writeJSON(w, http.StatusCreated, out)
}

// openjdSteps loads the job from sub and makes the job of each step. It
// fills in sub.Parameters with the values as resolved, so that every
// session, wherever it runs, sees the same ones.
func openjdSteps(sub *job.OpenJDJob) (*openjd.Job, []scheduler.OpenJDStepSpec, error) {
	var exts []openjd.Extension
	if sub.Extensions != nil {
		exts = []openjd.Extension{}
		for i, e := range sub.Extensions {
			ext, ok := openjd.LookupExtension(e)
			if !ok {
				return nil, nil, invalid(fmt.Sprintf("extensions[%d]", i), "unknown extension %q", e)
			}
			exts = append(exts, ext)
		}
	}
	if len(sub.PathMappingRules) > 0 {
		if _, err := session.ParsePathMappingRules(sub.PathMappingRules); err != nil {
			return nil, nil, invalid("path_mapping_rules", "%v", err)
		}
	}
	envs := make([][]byte, len(sub.Environments))
	for i, e := range sub.Environments {
		envs[i] = []byte(e)
	}
	oj, err := localrun.Load(localrun.Input{
		Template:     []byte(sub.Template),
		TemplateDir:  sub.TemplateDir,
		Environments: envs,
		Parameters:   sub.Parameters,
		WorkingDir:   cmp.Or(sub.WorkingDir, "/"),
		Extensions:   exts,
	})
	if err != nil {
		field := localrun.InputTemplate
		var le *localrun.LoadError
		if errors.As(err, &le) {
			field = le.Input
		}
		return nil, nil, invalid(field, "%v", err)
	}
	sub.Parameters = map[string]string{}
	for _, p := range oj.Parameters {
		sub.Parameters[p.Name] = p.Value
	}
	name := cmp.Or(sub.Name, oj.Name)
	order := localrun.TopoSort(oj)
	pos := map[string]int{}
	steps := make([]scheduler.OpenJDStepSpec, 0, len(order))
	for i, js := range order {
		pos[js.Name] = i
		spec := job.Spec{
			Name: truncateName(name + "/" + js.Name),
			Template: job.Template{
				Rerunnable:  sub.Rerunnable,
				MaxAttempts: sub.MaxAttempts,
			},
			Pool:        sub.Pool,
			Priority:    sub.Priority,
			Hold:        sub.Hold,
			MaxParallel: sub.MaxParallel,
			Labels:      sub.Labels,
			Constraints: sub.Constraints,
			SubmitDir:   sub.WorkingDir,
			OpenJD:      &job.OpenJDStep{Step: js.Name},
		}
		if js.Space != nil {
			n := js.TaskCount()
			if n > int64(job.MaxArrayTasks) {
				return nil, nil, invalid("template", "step %q has %d tasks; a berth job holds at most %d", js.Name, n, job.MaxArrayTasks)
			}
			spec.Array = &job.Array{Begin: 1, End: int(n), Step: 1}
		}
		var deps []int
		for _, d := range js.Dependencies {
			deps = append(deps, pos[d])
		}
		steps = append(steps, scheduler.OpenJDStepSpec{Spec: spec, Deps: deps})
	}
	return oj, steps, nil
}

// truncateName keeps a job name within job.MaxNameLen bytes, cut at a
// character boundary.
func truncateName(s string) string {
	if len(s) <= job.MaxNameLen {
		return s
	}
	return strings.ToValidUTF8(s[:job.MaxNameLen], "")
}
