package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/store"
)

// Submit validates and records a job, queues its tasks and returns its ID.
func (s *Scheduler) Submit(ctx context.Context, spec job.Spec) (int64, error) {
	if err := spec.Validate(); err != nil {
		return 0, err
	}
	spec = spec.WithDefaults()
	s.mu.Lock()
	if err := s.syncedLocked(ctx); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	id, err := s.submitLocked(ctx, &spec)
	var works []*workItem
	if err == nil {
		works = s.dispatchLocked()
	}
	s.mu.Unlock()
	s.publish(works)
	return id, err
}

func (s *Scheduler) submitLocked(ctx context.Context, spec *job.Spec) (int64, error) {
	now := s.cfg.Now().UTC()
	// Dependencies: unended ones are waited for; a failed one fails the job
	// at once; a missing one is an error.
	wait := map[int64]bool{}
	var failedDep int64
	for i, d := range spec.After {
		if _, ok := s.jobs[d]; ok {
			wait[d] = true
			continue
		}
		j, err := s.cfg.Store.JobGet(ctx, d)
		if errors.Is(err, job.ErrNotFound) {
			return 0, &job.FieldError{Field: fmt.Sprintf("after[%d]", i), Reason: fmt.Sprintf("no job %d", d)}
		} else if err != nil {
			return 0, err
		}
		if j.State == job.Failed && failedDep == 0 {
			failedDep = d
		}
	}
	p := &store.JobInsertParams{Spec: *spec, SubmittedAt: now, State: job.Queued}
	switch {
	case failedDep != 0:
		wait = nil // failed below, once its tasks exist
	case spec.Hold:
		p.State, p.SubState = job.QueuedHeld, job.SubState{Kind: job.ReasonHeld}
	case len(wait) > 0:
		p.SubState = waitingSubState(wait)
	}
	id, err := s.cfg.Store.JobInsert(ctx, p)
	if err != nil {
		return 0, fmt.Errorf("recording job: %w", err)
	}
	js := s.newJobLocked(id, spec)
	js.wait = wait
	spec.TaskIndexes(func(i int) bool {
		t := &task{Task: job.Task{JobID: id, Index: i, Name: spec.Name, State: p.State, SubState: p.SubState}}
		t.SubmittedAt = now
		if len(spec.Inputs) > 0 {
			t.Input = spec.Inputs[i-1]
		}
		js.addTask(t)
		return true
	})
	for d := range wait {
		s.dependents[d] = append(s.dependents[d], id)
	}
	if failedDep != 0 {
		sub := job.SubState{Kind: job.ReasonDependency, Value: strconv.FormatInt(failedDep, 10)}
		return id, s.commitLocked(ctx, s.failJobLocked(js, sub, now))
	}
	js.pool.fix(js)
	return id, nil
}

func (s *Scheduler) newJobLocked(id int64, spec *job.Spec) *jobState {
	js := &jobState{
		id:   id,
		spec: spec,
		pool: s.poolLocked(spec.Pool),
		pos:  -1,
	}
	s.jobs[id] = js
	return js
}

// addTask adds an unended task to a job being built (at submit or load).
func (j *jobState) addTask(t *task) {
	t.save()
	j.total++
	j.counts.add(t.State, 1)
	if t.State.Terminal() {
		return
	}
	j.tasks.put(t, j.isArray())
	if t.State == job.Queued || t.State == job.Requeued && !t.live() && !waitsForRetry(t) {
		j.queued = append(j.queued, t.Index) // indexes arrive in order: a valid heap
	}
}

func (s *Scheduler) poolLocked(name string) *pool {
	if p, ok := s.pools[name]; ok {
		return p
	}
	p := &pool{name: name, slots: s.cfg.DefaultSlots}
	if n, ok := s.cfg.Slots[name]; ok {
		p.slots = n
	}
	s.pools[name] = p
	return p
}

func waitingSubState(wait map[int64]bool) job.SubState {
	ids := make([]int64, 0, len(wait))
	for d := range wait {
		ids = append(ids, d)
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	var b strings.Builder
	for i, d := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(d, 10))
	}
	return job.SubState{Kind: job.ReasonDependsOn, Value: b.String()}
}

// load rebuilds the in-memory state from the store's unended tasks.
func (s *Scheduler) load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loadLocked(ctx)
}

func (s *Scheduler) loadLocked(ctx context.Context) error {
	now := s.cfg.Now()
	err := s.cfg.Store.TasksActive(ctx, func(a *store.ActiveTask) error {
		js, ok := s.jobs[a.Task.JobID]
		if !ok {
			js = s.newJobLocked(a.Task.JobID, a.Spec)
			// Totals need whole jobs: count the ended tasks too.
			js.counts.add(job.Done, a.Done)
			js.counts.add(job.Failed, a.Failed)
			js.total += a.Done + a.Failed
		}
		t := &task{Task: a.Task}
		js.addTask(t)
		if waitsForRetry(t) {
			if t.RetryAt.After(now) {
				s.retryLaterLocked(js, t)
			} else {
				heap.Push(&js.queued, t.Index) // due while the server was down
			}
		}
		if t.live() {
			js.active++
			js.pool.used++
			// A worker not yet heard of has WorkerTimeout from now to
			// report in; one known (a reload) keeps its last word.
			ws := s.workers[t.Worker]
			if ws == nil {
				ws = s.workerLocked(t.Worker, now)
			}
			ws.tasks[t] = js
		}
		return nil
	})
	if err != nil {
		return err
	}
	failed := map[*jobState]int64{}
	for _, js := range s.jobs {
		for _, d := range js.spec.After {
			if _, ok := s.jobs[d]; ok {
				if js.wait == nil {
					js.wait = map[int64]bool{}
				}
				js.wait[d] = true
				continue
			}
			if dj, err := s.cfg.Store.JobGet(ctx, d); err == nil && dj.State == job.Failed {
				failed[js] = d
			}
		}
	}
	for id, js := range s.jobs {
		for d := range js.wait {
			s.dependents[d] = append(s.dependents[d], id)
		}
	}
	var changes []change
	for js, d := range failed {
		changes = append(changes, s.failJobLocked(js, job.SubState{Kind: job.ReasonDependency, Value: strconv.FormatInt(d, 10)}, now)...)
	}
	for _, js := range s.jobs {
		changes = append(changes, s.settleWaitsLocked(js)...)
		js.pool.fix(js)
	}
	return s.commitLocked(ctx, changes)
}
