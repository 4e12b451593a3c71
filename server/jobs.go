package server

import (
	"fmt"
	"math"
	"net/http"
	"path"
	"time"

	"github.com/berth-run/berth/job"
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
	w.Header().Set("Location", fmt.Sprintf("/v1/jobs/%d", id))
	writeJSON(w, http.StatusCreated, j)
}

type jobList struct {
	Jobs        []*job.Job `json:"jobs"`
	NextAfterID int64      `json:"next_after_id"`
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
	out := jobList{Jobs: jobs}
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
	writeJSON(w, http.StatusOK, j)
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
	if err := s.cfg.Scheduler.Remove(r.Context(), id, force); err != nil {
		s.writeError(w, r, err, job.Ref{Job: id})
		return
	}
	if s.cfg.JobRemoved != nil {
		s.cfg.JobRemoved(r.Context(), id)
	}
	w.WriteHeader(http.StatusNoContent)
}

type taskList struct {
	Tasks          []*job.Task `json:"tasks"`
	NextAfterIndex int         `json:"next_after_index"`
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
	if _, err := s.cfg.Store.JobGet(r.Context(), id); err != nil {
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
	out := taskList{Tasks: tasks, NextAfterIndex: -1}
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
	if err == nil {
		err = newQuery(r).Err()
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
	n, err := s.cfg.Scheduler.Control(r.Context(), ref, action)
	if err != nil {
		s.writeError(w, r, s.refineNotFound(r, err, ref), ref)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"changed": n})
}

func (s *Server) workers(w http.ResponseWriter, r *http.Request) {
	if err := newQuery(r).Err(); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	ws := s.cfg.Scheduler.Workers()
	if ws == nil {
		ws = []WorkerStatus{}
	}
	writeJSON(w, http.StatusOK, map[string][]WorkerStatus{"workers": ws})
}
