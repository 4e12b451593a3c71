package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/job"
)

// wait answers once all (or, with any, one) of the jobs have ended, or the
// timeout passed. It subscribes before reading the jobs, so an end between
// the two is not missed, then waits for JobEnded and Removed events.
func (s *Server) wait(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	ids := q.ids("id")
	anyOne := q.boolean("any")
	timeout, hasTimeout := q.duration("timeout")
	err := q.Err()
	if err == nil && len(ids) == 0 {
		err = invalid("id", "name at least one job to wait for")
	}
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	ctx := r.Context()
	events, unsubscribe := s.cfg.Scheduler.Subscribe(subscribeBuf)
	defer func() { unsubscribe() }()

	wt := waiter{s: s, ids: ids, any: anyOne, jobs: map[int64]*job.Job{}, ended: map[int64]bool{}, parent: map[int64]int64{}}
	if err := wt.read(ctx); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	var timer <-chan time.Time
	if hasTimeout {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	stop := stopping(ctx)
	timedOut := false
	for !wt.done() && !timedOut {
		select {
		case ev, ok := <-events:
			if !ok {
				// Dropped for falling behind: subscribe again and re-read.
				unsubscribe()
				events, unsubscribe = s.cfg.Scheduler.Subscribe(subscribeBuf)
				if err := wt.read(ctx); err != nil {
					s.writeError(w, r, err, noRef)
					return
				}
				continue
			}
			if _, ok := wt.jobs[ev.Job]; ok && (ev.JobEnded || ev.Removed) {
				wt.ended[ev.Job] = true
			}
			// An OpenJD job ends with its last step: read it again.
			if p, ok := wt.parent[ev.Job]; ok && (ev.JobEnded || ev.Removed) {
				if err := wt.readOne(ctx, p); err != nil {
					s.writeError(w, r, err, noRef)
					return
				}
			}
		case <-timer:
			timedOut = true
		case <-ctx.Done():
			return
		case <-stop:
			s.writeError(w, r, errShuttingDown, noRef)
			return
		}
	}
	// Answer with the jobs as they are now; a job removed meanwhile keeps
	// its last known form.
	if err := wt.read(ctx); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	out := api.WaitResult{Jobs: make([]*job.Job, len(ids)), TimedOut: timedOut && !wt.done()}
	for i, id := range ids {
		out.Jobs[i] = wt.jobs[id]
	}
	writeJSON(w, http.StatusOK, out)
}

type waiter struct {
	s     *Server
	ids   []int64
	any   bool
	jobs  map[int64]*job.Job
	ended map[int64]bool
	// parent maps the steps' jobs of the OpenJD jobs waited for to them.
	parent map[int64]int64
}

// read (re-)reads the jobs from the store. A job it knew that is gone now
// was removed, which counts as ended; one it never knew is a 404.
func (wt *waiter) read(ctx context.Context) error {
	for _, id := range wt.ids {
		if err := wt.readOne(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func (wt *waiter) readOne(ctx context.Context, id int64) error {
	j, err := wt.s.cfg.Store.JobGet(ctx, id)
	switch {
	case errors.Is(err, job.ErrNotFound) && wt.jobs[id] != nil:
		wt.ended[id] = true
	case err != nil:
		return toAPIError(err, job.Ref{Job: id})
	default:
		wt.jobs[id] = j
		if j.State.Terminal() {
			wt.ended[id] = true
		}
		for _, step := range j.Steps {
			wt.parent[step] = id
		}
	}
	return nil
}

func (wt *waiter) done() bool {
	n := 0
	for _, id := range wt.ids {
		if wt.ended[id] {
			n++
		}
	}
	return n > 0 && wt.any || n == len(wt.ids)
}
