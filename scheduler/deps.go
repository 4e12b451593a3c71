package scheduler

import (
	"container/heap"
	"strconv"
	"time"

	"github.com/berth-run/berth/job"
)

// jobEndedLocked retires a job whose tasks have all ended and lets the jobs
// waiting for it go on: released if it is Done, failed with DEPENDENCY if it
// failed or was removed.
func (s *Scheduler) jobEndedLocked(js *jobState, now time.Time) []change {
	delete(s.jobs, js.id)
	js.pool.fix(js)
	deps := s.dependents[js.id]
	delete(s.dependents, js.id)
	var changes []change
	for _, d := range deps {
		dj := s.jobs[d]
		if dj == nil {
			continue
		}
		if js.removed || js.counts.get(job.Failed) > 0 {
			changes = append(changes, s.failJobLocked(dj, job.SubState{Kind: job.ReasonDependency, Value: strconv.FormatInt(js.id, 10)}, now)...)
			continue
		}
		delete(dj.wait, js.id)
		changes = append(changes, s.settleWaitsLocked(dj)...)
		dj.pool.fix(dj)
	}
	return changes
}

// failJobLocked fails every task of a job that waits in the queue (its
// dependency failed).
func (s *Scheduler) failJobLocked(js *jobState, sub job.SubState, now time.Time) []change {
	var changes []change
	for _, t := range js.tasks.all() {
		if !t.State.Pending() || t.live() {
			continue
		}
		if s.moveLocked(js, t, job.Failed, sub, job.CauseDependency) != nil {
			continue
		}
		s.undispatchLocked(js, t)
		js.queued.remove(t.Index)
		t.FinishedAt = &now
		changes = append(changes, change{js: js, t: t})
	}
	js.pool.fix(js)
	if js.ended() {
		changes = append(changes, s.jobEndedLocked(js, now)...)
	}
	return changes
}

// settleWaitsLocked updates the WAITING sub-state of a job's pending tasks
// to the jobs it still waits for (or clears it).
func (s *Scheduler) settleWaitsLocked(js *jobState) []change {
	sub := job.SubState{}
	if len(js.wait) > 0 {
		sub = waitingSubState(js.wait)
	}
	var changes []change
	for _, t := range js.tasks.all() {
		if t.SubState.Kind == job.ReasonDependsOn && t.SubState != sub && s.moveLocked(js, t, t.State, sub, job.CauseDependency) == nil {
			changes = append(changes, change{js: js, t: t})
		}
	}
	return changes
}

// requeueLocked puts a pending task back in its job's queue.
func requeueLocked(js *jobState, t *task) {
	heap.Push(&js.queued, t.Index)
	js.pool.fix(js)
}
