package scheduler

import (
	"container/heap"

	"github.com/berth-run/berth/job"
)

// A task requeued after a failed attempt waits until its RetryAt (the
// backoff of job.Template.RetryWait) before it goes back to the queue. The
// due time is stored with the task, so the wait survives a restart: load
// arms the timer again, or queues the task at once if it is past.

// waitsForRetry reports whether t waits for its next attempt to be due.
func waitsForRetry(t *task) bool {
	return t.State == job.Requeued && t.SubState.Kind == job.ReasonRetrying && t.RetryAt != nil && !t.live()
}

// retryLaterLocked arms the timer that queues t when its RetryAt is due.
// A timer that fires for a task that is no longer the scheduler's own (a
// reload replaced it), or that no longer waits (held, stopped), does
// nothing.
func (s *Scheduler) retryLaterLocked(js *jobState, t *task) {
	id, index := js.id, t.Index
	s.afterFunc(t.RetryAt.Sub(s.cfg.Now()), func() {
		if s.ctx == nil || s.ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		var works []*workItem
		if js, cur := s.lookupLocked(id, index); cur == t && waitsForRetry(t) && s.syncedLocked(s.ctx) == nil {
			heap.Push(&js.queued, t.Index)
			js.pool.fix(js)
			works = s.dispatchLocked()
		}
		s.mu.Unlock()
		s.publish(works)
	})
}
