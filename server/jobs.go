package server

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/scheduler"
	"github.com/berth-run/berth/store"
)

// Paging limits of the list endpoints.
const (
	listLimitDefault = 1000
	listLimitMax     = 10000
)

func (s *Server) submit(w http.ResponseWriter, r *http.Request) {
	if err := newQuery(r).Err(); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	var spec job.Spec
	if err := decodeBody(w, r, &spec); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	if spec.Owner != "" {
		s.writeError(w, r, invalid("owner", "is set by the server (the submitting user), not by the submitter"), noRef)
		return
	}
	if spec.OpenJD != nil {
		s.writeError(w, r, invalid("openjd", "is set by the server: submit an OpenJD job to POST /v1/openjd/jobs"), noRef)
		return
	}
	spec.Owner = owner(r.Context())
	// The scheduler validates too; checking here answers bad input before
	// it reaches any state.
	if err := spec.Validate(); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	id, err := s.cfg.Scheduler.Submit(r.Context(), spec)
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	j, err := s.cfg.Store.JobGet(r.Context(), id)
	if err != nil {
		s.writeError(w, r, fmt.Errorf("reading job %d after submitting it: %w", id, err), noRef)
		return
	}
	j.Waiting = s.waiting(j)
	w.Header().Set("Location", fmt.Sprintf("/v1/jobs/%d", id))
	writeJSON(w, http.StatusCreated, j)
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	p := store.JobListParams{
		States:   q.states("state"),
		NameGlob: q.str("name", ""),
		IDs:      q.ids("id"),
		AfterID:  q.int64In("after_id", 0, 0, math.MaxInt64),
		Limit:    int(q.int64In("limit", listLimitDefault, 1, listLimitMax)),
	}
	if _, err := path.Match(p.NameGlob, ""); err != nil {
		q.fail(invalid("name", "invalid glob %q: %v", p.NameGlob, err))
	}
	for _, kv := range q.raw("label") {
		k, v, err := job.ParseKV(kv)
		if err != nil {
			q.fail(invalid("label", "%v", err))
			continue
		}
		if err := job.CheckLabelKey("label", k); err != nil {
			q.fail(err)
			continue
		}
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		p.Labels[k] = v
	}
	if since := q.str("since", ""); since != "" {
		if t, err := time.Parse(time.RFC3339, since); err == nil {
			p.Since = t
		} else if d, err := job.ParseDuration(since); err == nil {
			p.Since = time.Now().Add(-d.Std())
		} else {
			q.fail(invalid("since", "invalid %q: want an RFC 3339 time (2006-01-02T15:04:05Z) or a duration ago (1h, 2d)", since))
		}
	}
	if err := q.Err(); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	// Ask for one more than the page to know whether there is a next one.
	limit := p.Limit
	p.Limit++
	jobs, err := s.cfg.Store.JobList(r.Context(), &p)
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	out := api.JobPage{Jobs: jobs}
	if len(jobs) > limit {
		out.Jobs = jobs[:limit]
		out.NextAfterID = out.Jobs[limit-1].ID
	}
	if out.Jobs == nil {
		out.Jobs = []*job.Job{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err == nil {
		err = newQuery(r).Err()
	}
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	j, err := s.cfg.Store.JobGet(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err, job.Ref{Job: id})
		return
	}
	j.Waiting = s.waiting(j)
	writeJSON(w, http.StatusOK, j)
}

// waiting says why a queued job cannot start: no live worker of its pool,
// or none with its constraints. The constraints named are those no live
// worker of the pool has; all of them if each is had by some worker but
// not all by one.
func (s *Server) waiting(j *job.Job) string {
	if j.State != job.Queued && j.State != job.Requeued || j.SubState.Kind == job.ReasonDependsOn {
		return ""
	}
	pool := cmp.Or(j.Pool, job.PoolDefault)
	var labels []map[string]string
	for _, w := range s.cfg.Scheduler.Workers() {
		if w.Alive && cmp.Or(w.Pool, job.PoolDefault) == pool {
			labels = append(labels, w.Labels)
		}
	}
	if len(labels) == 0 {
		return "no live worker in pool " + pool
	}
	if slices.ContainsFunc(labels, j.Matches) {
		return ""
	}
	unmet := map[string]string{}
	for k, v := range j.Constraints {
		if !slices.ContainsFunc(labels, func(l map[string]string) bool { got, ok := l[k]; return ok && got == v }) {
			unmet[k] = v
		}
	}
	if len(unmet) == 0 {
		unmet = j.Constraints
	}
	var kvs []string
	for _, k := range slices.Sorted(maps.Keys(unmet)) {
		kvs = append(kvs, k+"="+unmet[k])
	}
	of := ""
	if pool != job.PoolDefault {
		of = " of pool " + pool
	}
	return "no worker" + of + " with " + strings.Join(kvs, " ")
}

func (s *Server) removeJob(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	q := newQuery(r)
	force := q.boolean("force")
	if err == nil {
		err = q.Err()
	}
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	removed := []int64{id}
	p, err := s.withSteps(r.Context(), id)
	if err == nil && p != nil {
		removed, err = s.removeSteps(r.Context(), p, force)
	} else if err == nil {
		err = s.cfg.Scheduler.Remove(r.Context(), id, force)
	}
	if s.cfg.JobRemoved != nil && (err == nil || p != nil) {
		for _, id := range removed {
			s.cfg.JobRemoved(r.Context(), id)
		}
	}
	if err != nil {
		s.writeError(w, r, err, job.Ref{Job: id})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	q := newQuery(r)
	p := store.TaskListParams{
		JobID:      id,
		States:     q.states("state"),
		AfterIndex: int(q.int64In("after_index", -1, -1, math.MaxInt32)),
		Limit:      int(q.int64In("limit", listLimitDefault, 1, listLimitMax)),
	}
	if err == nil {
		err = q.Err()
	}
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	// An unknown job has no tasks; say it does not exist instead.
	if p, err := s.withSteps(r.Context(), id); err != nil || p != nil {
		if err == nil {
			err = invalid("id", "%s", stepsHint(p))
		}
		s.writeError(w, r, err, job.Ref{Job: id})
		return
	}
	limit := p.Limit
	p.Limit++
	tasks, err := s.cfg.Store.TaskList(r.Context(), &p)
	if err != nil {
		s.writeError(w, r, err, job.Ref{Job: id})
		return
	}
	out := api.TaskPage{Tasks: tasks, NextAfterIndex: -1}
	if len(tasks) > limit {
		out.Tasks = tasks[:limit]
		out.NextAfterIndex = out.Tasks[limit-1].Index
	}
	if out.Tasks == nil {
		out.Tasks = []*job.Task{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) control(w http.ResponseWriter, r *http.Request) {
	ref, err := pathRef(r, "ref")
	q := newQuery(r)
	g, hasGrace := q.duration("grace")
	sig := q.str("signal", "")
	if err == nil {
		err = q.Err()
	}
	if err == nil && g < 0 {
		err = invalid("grace", "must not be negative")
	}
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	action, err := job.ParseAction(r.PathValue("action"))
	if err != nil {
		s.writeError(w, r, invalid("action", "%v", err), noRef)
		return
	}
	var opts scheduler.StopOptions
	if hasGrace {
		if action != job.Terminate {
			s.writeError(w, r, invalid("grace", "only terminate takes a grace"), noRef)
			return
		}
		opts.Grace = &g
	}
	if sig != "" {
		if action != job.Terminate {
			s.writeError(w, r, invalid("signal", "only terminate takes a signal"), noRef)
			return
		}
		if opts.Signal, err = job.ParseStopSignal(sig); err != nil {
			s.writeError(w, r, invalid("signal", "%v", err), noRef)
			return
		}
	}
	var n int
	p, err := s.withSteps(r.Context(), ref.Job)
	switch {
	case err != nil && !errors.Is(err, job.ErrNotFound):
	case p != nil && ref.HasIndex:
		err = invalid("ref", "%s", stepsHint(p))
	case p != nil:
		n, err = s.controlSteps(r.Context(), p, action, opts)
	default:
		n, err = s.cfg.Scheduler.ControlStop(r.Context(), ref, action, opts)
	}
	if err != nil {
		s.writeError(w, r, s.refineNotFound(r, err, ref), ref)
		return
	}
	writeJSON(w, http.StatusOK, api.Changed{Changed: n})
}

func (s *Server) workers(w http.ResponseWriter, r *http.Request) {
	if err := newQuery(r).Err(); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	out := api.WorkerList{Workers: []api.WorkerStatus{}}
	for _, ws := range s.cfg.Scheduler.Workers() {
		out.Workers = append(out.Workers, workerStatus(ws))
	}
	writeJSON(w, http.StatusOK, out)
}

// workerStatus maps what the scheduler heard of a worker to the API's form.
func workerStatus(ws WorkerStatus) api.WorkerStatus {
	out := api.WorkerStatus{Worker: ws.Worker, Host: ws.Host, Pool: ws.Pool, Slots: ws.Slots, Labels: ws.Labels,
		Version: ws.Version, Running: make([]api.TaskKey, len(ws.Running)), Time: ws.Time, LastSeen: ws.LastSeen, Alive: ws.Alive}
	for i, k := range ws.Running {
		out.Running[i] = api.TaskKey{Job: k.Job, Index: k.Index, Attempt: k.Attempt}
	}
	return out
}
