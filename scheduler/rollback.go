package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
)

// A commit that fails leaves the store as it was, but the decision that
// led to it has already changed the in-memory state (task states, counts,
// queues, slots, workers' tasks, handoffs). Rather than undo each of those
// changes, the scheduler throws its state away and reloads it from the
// store, which is the truth: a worker's retry of a report then finds the
// task as it was before, and is handled anew, not taken as a repeat.
//
// Reloading reads every unended task. So that a store that keeps failing
// (a full disk) does not have the scheduler reload for every report its
// workers retry, changes are refused without a try for failedCooldown
// after a failed commit. If the reload fails too, the scheduler stays
// stale: every report and request is refused (and so retried by its
// sender) until a reload succeeds.

// errStale is returned while the in-memory state could not be reloaded.
var errStale = errors.New("scheduler state is being reloaded from the store after a failed commit")

// failedCooldown is how long after a failed commit changes are refused
// without trying the store.
const failedCooldown = time.Second

// rollbackLocked reloads the state from the store after a failed commit of
// the given tasks, which failed with err.
func (s *Scheduler) rollbackLocked(ctx context.Context, failed []*task, err error) {
	s.failedAt, s.failedErr = time.Now(), err
	if s.reloading || s.ctx == nil || s.ctx.Err() != nil {
		// A commit of the reload itself failed (load retries it), or the
		// scheduler is stopping: nothing will act on the state any more.
		s.stale = true
		return
	}
	s.stale = true
	if err := s.reloadLocked(ctx, failed); err != nil {
		s.log.Error("reloading the scheduler's state after a failed commit", "err", err)
	}
}

// syncedLocked makes sure the in-memory state matches the store before it
// is acted upon, reloading it if an earlier reload failed.
func (s *Scheduler) syncedLocked(ctx context.Context) error {
	if d := time.Since(s.failedAt); d < failedCooldown {
		return fmt.Errorf("%w (%s ago); try again", s.failedErr, d.Round(time.Millisecond))
	}
	if !s.stale {
		return nil
	}
	if err := s.reloadLocked(ctx, nil); err != nil {
		return fmt.Errorf("%w: %w", errStale, err)
	}
	return nil
}

// started is what a worker told of an attempt it started (EventStarted),
// written lazily and so possibly not in the store when it is reloaded.
type started struct {
	pid         int
	containerID string
	session     string
	hostname    string
	ports       []job.PublishedPort
}

// reloadLocked rebuilds the in-memory state from the store. Workers keep
// their last heartbeat and when they were last heard from.
func (s *Scheduler) reloadLocked(ctx context.Context, failed []*task) error {
	// PIDs told by started events were acknowledged without a commit of
	// their own: carry them over.
	pids := map[dispatch.TaskKey]started{}
	note := func(t *task) {
		if t.reported() {
			pids[dispatch.TaskKey{Job: t.JobID, Index: t.Index, Attempt: t.Attempt}] = started{t.PID, t.ContainerID, t.Session, t.Hostname, t.Ports}
		}
	}
	for _, t := range failed {
		note(t)
	}
	for t := range s.lazy {
		note(t)
	}
	for _, js := range s.jobs {
		for _, t := range js.tasks.all() {
			note(t)
		}
	}
	s.jobs = make(map[int64]*jobState)
	// New pools: work still queued for the publisher refers to the old
	// jobs, which must not find their way into the new heaps.
	s.pools = make(map[string]*pool)
	s.dependents = make(map[int64][]int64)
	s.handoffs = make(map[dispatch.TaskKey]*workItem)
	clear(s.lazy)
	for _, ws := range s.workers {
		ws.tasks = map[*task]*jobState{}
	}
	s.reloading = true
	err := s.loadLocked(ctx)
	s.reloading = false
	if err != nil {
		return err
	}
	for _, js := range s.jobs {
		for _, t := range js.tasks.all() {
			p, ok := pids[dispatch.TaskKey{Job: t.JobID, Index: t.Index, Attempt: t.Attempt}]
			if ok && t.live() && !t.reported() {
				t.PID, t.ContainerID, t.Session = p.pid, p.containerID, p.session
				t.Hostname, t.Ports = p.hostname, p.ports
				s.lazyLocked(t)
			}
		}
	}
	s.stale = false
	// Tasks whose dispatch was undone wait in the queue again.
	s.redispatchLaterLocked()
	s.log.Warn("scheduler state reloaded from the store after a failed commit", "jobs", len(s.jobs))
	return nil
}
