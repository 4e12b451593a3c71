package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/store"
)

// change is a task whose new state is to be committed and announced.
type change struct {
	js *jobState
	t  *task
	// sizes, when set, are the task's output sizes at its end.
	sizes *store.Offsets
}

// commitLocked writes changed tasks in one transaction, then tells
// subscribers (fanout). Nothing is announced that is not committed.
func (s *Scheduler) commitLocked(ctx context.Context, changes []change) error {
	if len(changes) == 0 && len(s.lazy) == 0 {
		return nil
	}
	puts := make([]store.TaskPut, len(changes), len(changes)+len(s.lazy))
	saved := make([]*task, 0, cap(puts))
	for i, c := range changes {
		puts[i] = store.TaskPut{Task: &c.t.Task, Sizes: c.sizes, Prev: c.t.saved, PrevKnown: true, JobEnded: c.js.ended()}
		saved = append(saved, c.t)
		delete(s.lazy, c.t)
	}
	// Lazy changes ride along with this commit.
	for t := range s.lazy {
		puts = append(puts, store.TaskPut{Task: &t.Task, Prev: t.saved, PrevKnown: true})
		saved = append(saved, t)
	}
	clear(s.lazy)
	now := s.cfg.Now().UTC()
	began := time.Now()
	if err := s.cfg.Store.TasksPutWith(ctx, puts, now); err != nil {
		s.log.Error("committing task states", "tasks", len(puts), "err", err)
		err = fmt.Errorf("recording task states: %w", err)
		s.rollbackLocked(ctx, saved, err)
		return err
	}
	s.observeLocked(changes, len(puts), time.Since(began), now)
	for _, t := range saved {
		t.save()
	}
	if len(changes) == 0 || !s.fan.listening() {
		return nil
	}
	events := make([]*job.Event, len(changes))
	for i, c := range changes {
		events[i] = &job.Event{
			Job: c.js.id, Index: c.t.Index, Attempt: c.t.Attempt,
			State: c.t.State, SubState: c.t.SubState, ExitCode: c.t.ExitCode, Time: now,
			JobState: c.js.counts.summarize(), JobEnded: c.js.ended(),
		}
	}
	s.fan.emit(events...) // under s.mu: in the order of commits
	return nil
}

// lazyLocked notes a change that needs no commit of its own (the PID of a
// started task): it is written with the next commit, or within lazyDelay.
func (s *Scheduler) lazyLocked(t *task) {
	s.lazy[t] = struct{}{}
	if s.lazyTimer == nil {
		s.lazyTimer = time.AfterFunc(lazyDelay, s.flushLazy)
	} else if len(s.lazy) == 1 {
		s.lazyTimer.Reset(lazyDelay)
	}
}

// lazyDelay bounds how long a lazy change waits for a commit to join.
const lazyDelay = 50 * time.Millisecond

func (s *Scheduler) flushLazy() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.lazy) == 0 || s.ctx.Err() != nil {
		return
	}
	if s.syncedLocked(s.ctx) != nil {
		s.lazyTimer.Reset(failedCooldown) // the store fails: later
		return
	}
	_ = s.commitLocked(s.ctx, nil)
}

// Subscribe returns a channel of every event from now on and a func ending
// the subscription. A subscriber more than buf events behind is dropped: its
// channel is closed and it should re-read the store. An event is sent once
// its change is in the store, so one who subscribes and then reads the store
// misses nothing.
func (s *Scheduler) Subscribe(buf int) (<-chan job.Event, func()) {
	return s.fan.subscribe(buf)
}
