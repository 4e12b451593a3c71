package scheduler

import (
	"context"
	"fmt"

	"github.com/berth-run/berth/job"
)

// change is a task whose new state is to be committed and announced.
type change struct {
	js *jobState
	t  *task
}

// commitLocked writes changed tasks in one transaction, then tells
// subscribers. Nothing is announced that is not committed.
func (s *Scheduler) commitLocked(ctx context.Context, changes []change) error {
	if len(changes) == 0 {
		return nil
	}
	tasks := make([]*job.Task, len(changes))
	for i, c := range changes {
		tasks[i] = &c.t.Task
	}
	now := s.cfg.Now().UTC()
	if err := s.cfg.Store.TasksPut(ctx, tasks, now); err != nil {
		s.log.Error("committing task states", "tasks", len(tasks), "err", err)
		return fmt.Errorf("recording task states: %w", err)
	}
	if len(s.subs) == 0 {
		return nil
	}
	for _, c := range changes {
		s.emitLocked(&job.Event{
			Job: c.js.id, Index: c.t.Index, Attempt: c.t.Attempt,
			State: c.t.State, SubState: c.t.SubState, ExitCode: c.t.ExitCode, Time: now,
			JobState: job.Summarize(c.js.counts), JobEnded: c.js.ended(),
		})
	}
	return nil
}

// subscriber is one Subscribe call.
type subscriber struct {
	ch chan job.Event
}

// Subscribe returns a channel of every event from now on and a func ending
// the subscription. A subscriber more than buf events behind is dropped: its
// channel is closed and it should re-read the store.
func (s *Scheduler) Subscribe(buf int) (<-chan job.Event, func()) {
	sub := &subscriber{ch: make(chan job.Event, max(buf, 1))}
	s.mu.Lock()
	s.subs[sub] = struct{}{}
	s.mu.Unlock()
	return sub.ch, func() {
		s.mu.Lock()
		s.dropLocked(sub)
		s.mu.Unlock()
	}
}

func (s *Scheduler) dropLocked(sub *subscriber) {
	if _, ok := s.subs[sub]; ok {
		delete(s.subs, sub)
		close(sub.ch)
	}
}

func (s *Scheduler) emitLocked(e *job.Event) {
	s.seq++
	e.Seq = s.seq
	for sub := range s.subs {
		select {
		case sub.ch <- *e:
		default:
			s.dropLocked(sub)
		}
	}
}
