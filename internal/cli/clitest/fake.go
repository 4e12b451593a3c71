// Package clitest helps test berth's commands: an in-memory fake of the
// HTTP API (docs/api.md) and a Factory on test buffers.
package clitest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/job"
)

// API is a fake server. Tests set its fields before running a command and
// read them after; the handlers hold mu.
type API struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change

	Jobs    map[int64]*job.Job
	Tasks   map[int64][]*job.Task
	History map[string][]api.Transition // by ref
	// Logs holds output by ref and stream ("stdout", "stderr").
	Logs     map[string]map[string]string
	Results  map[string][]json.RawMessage
	Received map[int64][]api.Received // what receive returns, by job
	Workers  []api.WorkerStatus

	// OnSubmit, if set, turns a submitted spec into the job and tasks the
	// fake keeps (to make a job end at once, say). By default the job is
	// Queued.
	OnSubmit func(id int64, spec job.Spec) (*job.Job, []*job.Task)

	Submitted []job.Spec
	Controls  []string // "REF ACTION"
	Removed   []int64
	Requests  []string // "METHOD PATH?QUERY"
	nextID    int64
}

// NewAPI starts a fake server and returns it with its URL.
func NewAPI(t testing.TB) (*API, string) {
	a := &API{
		changed: make(chan struct{}),
		Jobs:    map[int64]*job.Job{}, Tasks: map[int64][]*job.Task{},
		History: map[string][]api.Transition{}, Logs: map[string]map[string]string{},
		Results: map[string][]json.RawMessage{}, Received: map[int64][]api.Received{},
		nextID: 1,
	}
	srv := httptest.NewServer(a.handler())
	t.Cleanup(srv.Close)
	return a, srv.URL
}

// Lock and Unlock guard the fields while commands run.
func (a *API) Lock()   { a.mu.Lock() }
func (a *API) Unlock() { a.mu.Unlock() }

// Add records a job and its tasks (one task of index 0 if none given), and
// returns the job.
func (a *API) Add(j *job.Job, tasks ...*job.Task) *job.Job {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.add(j, tasks)
	return j
}

func (a *API) add(j *job.Job, tasks []*job.Task) {
	if j.ID == 0 {
		j.ID = a.nextID
	}
	if j.ID >= a.nextID {
		a.nextID = j.ID + 1
	}
	if len(tasks) == 0 {
		tasks = []*job.Task{{JobID: j.ID, State: j.State, SubState: j.SubState, Info: job.Info{SubmittedAt: j.SubmittedAt}}}
	}
	for _, t := range tasks {
		t.JobID = j.ID
	}
	a.Jobs[j.ID] = j
	a.Tasks[j.ID] = tasks
	a.summarize(j.ID)
}

// summarize recomputes a job's counts and state from its tasks.
func (a *API) summarize(id int64) {
	j := a.Jobs[id]
	j.Tasks = map[job.State]int{}
	for _, t := range a.Tasks[id] {
		j.Tasks[t.State]++
	}
	j.TaskCount = len(a.Tasks[id])
	j.State = job.Summarize(j.Tasks)
	if !j.IsArray() && len(a.Tasks[id]) == 1 {
		j.SubState = a.Tasks[id][0].SubState
	}
}

// Update changes a job's tasks under the lock and wakes waiters.
func (a *API) Update(id int64, fn func(tasks []*job.Task)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fn(a.Tasks[id])
	a.summarize(id)
	a.broadcast()
}

func (a *API) broadcast() {
	close(a.changed)
	a.changed = make(chan struct{})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": fmt.Sprintf(format, args...)}})
}

func (a *API) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.Health{OK: true, Version: "test"})
	})
	mux.HandleFunc("POST /v1/jobs", a.submit)
	mux.HandleFunc("GET /v1/jobs", a.list)
	mux.HandleFunc("GET /v1/jobs/{id}", a.withJob(func(w http.ResponseWriter, r *http.Request, j *job.Job) {
		writeJSON(w, 200, j)
	}))
	mux.HandleFunc("DELETE /v1/jobs/{id}", a.withJob(func(w http.ResponseWriter, r *http.Request, j *job.Job) {
		if !j.State.Terminal() && r.URL.Query().Get("force") != "true" {
			apiError(w, 409, "invalid_state", "job %d has not ended", j.ID)
			return
		}
		delete(a.Jobs, j.ID)
		a.Removed = append(a.Removed, j.ID)
		a.broadcast()
		w.WriteHeader(204)
	}))
	mux.HandleFunc("GET /v1/jobs/{id}/tasks", a.withJob(a.tasks))
	mux.HandleFunc("GET /v1/tasks/{ref}", a.withTasks(func(w http.ResponseWriter, r *http.Request, ref job.Ref, ts []*job.Task) {
		writeJSON(w, 200, api.TaskDetail{Task: *ts[0], History: a.History[ref.String()]})
	}))
	mux.HandleFunc("POST /v1/jobs/{ref}/receive", a.receive)
	mux.HandleFunc("POST /v1/jobs/{ref}/{action}", a.withTasks(a.control))
	mux.HandleFunc("GET /v1/tasks/{ref}/logs", a.logs)
	mux.HandleFunc("GET /v1/tasks/{ref}/results", a.withTasks(func(w http.ResponseWriter, r *http.Request, ref job.Ref, ts []*job.Task) {
		writeJSON(w, 200, map[string]any{"results": a.Results[ref.String()]})
	}))
	mux.HandleFunc("GET /v1/wait", a.wait)
	mux.HandleFunc("GET /v1/workers", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		writeJSON(w, 200, map[string]any{"workers": a.Workers})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.Requests = append(a.Requests, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		a.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
}

func (a *API) submit(w http.ResponseWriter, r *http.Request) {
	var spec job.Spec
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		apiError(w, 400, "invalid", "%v", err)
		return
	}
	if err := spec.Validate(); err != nil {
		apiError(w, 400, "invalid", "%v", err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.Submitted = append(a.Submitted, spec)
	id := a.nextID
	j, tasks := &job.Job{ID: id, Spec: spec, State: job.Queued, SubmittedAt: time.Now()}, []*job.Task(nil)
	if a.OnSubmit != nil {
		j, tasks = a.OnSubmit(id, spec)
		j.ID, j.Spec = id, spec
	} else {
		for i := range spec.TaskIndexes {
			tasks = append(tasks, &job.Task{Index: i, State: job.Queued})
		}
	}
	a.add(j, tasks)
	writeJSON(w, 201, j)
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.mu.Lock()
	defer a.mu.Unlock()
	after, _ := strconv.ParseInt(q.Get("after_id"), 10, 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit == 0 {
		limit = 1000
	}
	var states []string
	for _, s := range q["state"] {
		states = append(states, strings.Split(s, ",")...)
	}
	var out struct {
		Jobs        []*job.Job `json:"jobs"`
		NextAfterID int64      `json:"next_after_id"`
	}
	out.Jobs = []*job.Job{}
	for id := after + 1; id < a.nextID; id++ {
		j := a.Jobs[id]
		if j == nil || !matches(j, states, q) {
			continue
		}
		if len(out.Jobs) == limit {
			out.NextAfterID = out.Jobs[limit-1].ID
			break
		}
		out.Jobs = append(out.Jobs, j)
	}
	writeJSON(w, 200, out)
}

func matches(j *job.Job, states []string, q map[string][]string) bool {
	if len(states) > 0 && !contains(states, string(j.State)) {
		return false
	}
	if n := q["name"]; len(n) > 0 {
		if ok, _ := path.Match(n[0], j.Name); !ok {
			return false
		}
	}
	for _, l := range q["label"] {
		k, v, _ := strings.Cut(l, "=")
		if j.Labels[k] != v {
			return false
		}
	}
	if s := q["since"]; len(s) > 0 {
		t, _ := time.Parse(time.RFC3339Nano, s[0])
		if j.SubmittedAt.Before(t) {
			return false
		}
	}
	return true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (a *API) withJob(fn func(http.ResponseWriter, *http.Request, *job.Job)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		a.mu.Lock()
		defer a.mu.Unlock()
		j := a.Jobs[id]
		if j == nil {
			apiError(w, 404, "not_found", "no job %s", r.PathValue("id"))
			return
		}
		fn(w, r, j)
	}
}

// withTasks resolves {ref} to the tasks it names.
func (a *API) withTasks(fn func(http.ResponseWriter, *http.Request, job.Ref, []*job.Task)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ref, err := job.ParseRef(r.PathValue("ref"))
		if err != nil {
			apiError(w, 400, "invalid", "%v", err)
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		ts, ok := a.lookup(ref)
		if !ok {
			if ref.HasIndex && a.Jobs[ref.Job] != nil {
				apiError(w, 404, "not_found", "no task %s", ref)
			} else {
				apiError(w, 404, "not_found", "no job %d", ref.Job)
			}
			return
		}
		fn(w, r, ref, ts)
	}
}

func (a *API) lookup(ref job.Ref) ([]*job.Task, bool) {
	if a.Jobs[ref.Job] == nil {
		return nil, false
	}
	ts := a.Tasks[ref.Job]
	if !ref.HasIndex {
		return ts, true
	}
	for _, t := range ts {
		if t.Index == ref.Index {
			return []*job.Task{t}, true
		}
	}
	return nil, false
}

func (a *API) tasks(w http.ResponseWriter, r *http.Request, j *job.Job) {
	after := -1
	if s := r.URL.Query().Get("after_index"); s != "" {
		after, _ = strconv.Atoi(s)
	}
	out := api.TaskPage{NextAfterIndex: -1, Tasks: []*job.Task{}}
	for _, t := range a.Tasks[j.ID] {
		if t.Index > after {
			out.Tasks = append(out.Tasks, t)
		}
	}
	writeJSON(w, 200, out)
}

func (a *API) control(w http.ResponseWriter, r *http.Request, ref job.Ref, ts []*job.Task) {
	act, err := job.ParseAction(r.PathValue("action"))
	if err != nil {
		apiError(w, 400, "invalid", "%v", err)
		return
	}
	c := ref.String() + " " + string(act)
	if g := r.URL.Query().Get("grace"); g != "" {
		c += " grace=" + g
	}
	if sig := r.URL.Query().Get("signal"); sig != "" {
		c += " signal=" + sig
	}
	a.Controls = append(a.Controls, c)
	n := 0
	for _, t := range ts {
		switch {
		case act == job.Terminate && !t.State.Terminal():
			t.State, t.SubState, t.Signal = job.Failed, job.SubState{Kind: job.ReasonCanceled}, "SIGTERM"
		case act == job.Hold && t.State == job.Queued:
			t.State = job.QueuedHeld
		case act == job.Release && t.State == job.QueuedHeld:
			t.State = job.Queued
		case act == job.Suspend && t.State == job.Running:
			t.State = job.Suspended
		case act == job.Resume && t.State == job.Suspended:
			t.State = job.Running
		default:
			continue
		}
		n++
	}
	if n == 0 && act == job.Release {
		apiError(w, 409, "invalid_state", "job %s is not held", ref)
		return
	}
	a.summarize(ref.Job)
	a.broadcast()
	writeJSON(w, 200, map[string]int{"changed": n})
}

func (a *API) receive(w http.ResponseWriter, r *http.Request) {
	ref, _ := job.ParseRef(r.PathValue("ref"))
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.Jobs[ref.Job] == nil {
		apiError(w, 404, "not_found", "no job %d", ref.Job)
		return
	}
	got := a.Received[ref.Job]
	if r.URL.Query().Get("keep") != "true" {
		delete(a.Received, ref.Job)
	}
	if got == nil {
		got = []api.Received{}
	}
	writeJSON(w, 200, map[string]any{"tasks": got})
}

// logs sends a task's output; following, it then waits for the task to end.
func (a *API) logs(w http.ResponseWriter, r *http.Request) {
	ref, _ := job.ParseRef(r.PathValue("ref"))
	q := r.URL.Query()
	stream := q.Get("stream")
	if stream == "" {
		stream = "stdout"
	}
	a.mu.Lock()
	ts, ok := a.lookup(ref)
	if !ok {
		a.mu.Unlock()
		apiError(w, 404, "not_found", "no job %d", ref.Job)
		return
	}
	out := a.Logs[ref.String()][stream]
	a.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	off, _ := strconv.Atoi(q.Get("offset"))
	if off < len(out) {
		_, _ = io.WriteString(w, out[off:])
	}
	if q.Get("follow") != "true" {
		return
	}
	w.(http.Flusher).Flush()
	for {
		a.mu.Lock()
		ended, ch := ts[0].State.Terminal(), a.changed
		a.mu.Unlock()
		if ended {
			return
		}
		select {
		case <-ch:
		case <-r.Context().Done():
			return
		}
	}
}

func (a *API) wait(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var timeout <-chan time.Time
	if d, err := time.ParseDuration(q.Get("timeout")); err == nil {
		timeout = time.After(d)
	}
	var ids []int64
	for _, s := range q["id"] {
		id, _ := strconv.ParseInt(s, 10, 64)
		ids = append(ids, id)
	}
	for {
		a.mu.Lock()
		var res api.WaitResult
		ended := 0
		for _, id := range ids {
			j := a.Jobs[id]
			if j == nil {
				a.mu.Unlock()
				apiError(w, 404, "not_found", "no job %d", id)
				return
			}
			cp := *j
			res.Jobs = append(res.Jobs, &cp)
			if j.State.Terminal() {
				ended++
			}
		}
		ch := a.changed
		a.mu.Unlock()
		if ended == len(ids) || (ended > 0 && q.Get("any") == "true") {
			writeJSON(w, 200, res)
			return
		}
		select {
		case <-ch:
		case <-timeout:
			res.TimedOut = true
			writeJSON(w, 200, res)
			return
		case <-r.Context().Done():
			return
		}
	}
}
