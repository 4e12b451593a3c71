package scheduler

import (
	"time"

	"github.com/berth-run/berth/job"
)

// Observer is told of what the scheduler commits, for metrics. Its methods
// are called with the scheduler's lock held: they must be quick and must
// not call the scheduler back.
type Observer interface {
	// Committed reports a store commit of n task changes that took d.
	Committed(n int, d time.Duration)
	// TaskChanged reports a committed change of a task in pool from state
	// prev (the last committed one) to t.State, at now. exited is when the
	// worker saw an ended attempt exit (zero when unknown).
	TaskChanged(pool string, t *job.Task, prev job.State, exited, now time.Time)
}

// PoolStats is a pool as the scheduler sees it now. Only unended jobs are
// counted: ended ones are in the store.
type PoolStats struct {
	Pool  string
	Slots int // the limit of tasks running at once
	Used  int // slots held: tasks dispatched, running or suspended
	// Tasks and Jobs count unended tasks by state and unended jobs by
	// summarized state.
	Tasks map[job.State]int
	Jobs  map[job.State]int
	// Queued is the number of tasks ready to run and waiting for a slot;
	// OldestQueued the submission time of the oldest of them (zero when
	// none).
	Queued       int
	OldestQueued time.Time
}

// Stats returns every pool's figures. It walks the unended jobs, once: meant
// for a scrape every few seconds, not for every request.
func (s *Scheduler) Stats() []PoolStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	by := make(map[*pool]*PoolStats, len(s.pools))
	for _, p := range s.pools {
		by[p] = &PoolStats{Pool: p.name, Slots: p.slots, Used: p.used,
			Tasks: map[job.State]int{}, Jobs: map[job.State]int{}}
	}
	for _, js := range s.jobs {
		ps := by[js.pool]
		if ps == nil || js.removed {
			continue
		}
		for i, st := range job.States {
			if n := js.counts[i]; n != 0 {
				ps.Tasks[st] += int(n)
			}
		}
		ps.Jobs[js.counts.summarize()]++
		if len(js.queued) > 0 && len(js.wait) == 0 {
			ps.Queued += len(js.queued)
			if t := js.tasks.get(js.queued[0]); t != nil {
				if at := t.SubmittedAt; !at.IsZero() && (ps.OldestQueued.IsZero() || at.Before(ps.OldestQueued)) {
					ps.OldestQueued = at
				}
			}
		}
	}
	out := make([]PoolStats, 0, len(by))
	for _, ps := range by {
		out = append(out, *ps)
	}
	return out
}

// observeLocked tells the observer of a commit and of the state changes in
// it. The tasks' saved state is still the one before the commit.
func (s *Scheduler) observeLocked(changes []change, n int, d time.Duration, now time.Time) {
	o := s.cfg.Observer
	if o == nil {
		return
	}
	o.Committed(n, d)
	for _, c := range changes {
		if c.t.State != c.t.saved.State || c.t.Attempt != c.t.saved.Attempt {
			o.TaskChanged(c.js.pool.name, &c.t.Task, c.t.saved.State, c.t.exitedAt, now)
		}
		c.t.exitedAt = time.Time{}
	}
}

// JobTasks counts an unended job's tasks by state, from memory; false when
// the job is not unended (ended, removed or unknown: ask the store).
func (s *Scheduler) JobTasks(id int64) (map[job.State]int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	js := s.jobs[id]
	if js == nil || js.removed {
		return nil, false
	}
	m := make(map[job.State]int, 4)
	for i, n := range js.counts {
		if n != 0 {
			m[job.States[i]] = int(n)
		}
	}
	return m, true
}
