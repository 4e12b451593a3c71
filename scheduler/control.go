package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/store"
)

// order is a control request for a worker, sent once the lock is released.
type order struct {
	js     *jobState
	t      *task
	worker string
	ctl    dispatch.Control
}

// Control applies an action to a job's tasks (ref without index) or to one
// task, and returns how many tasks it changed. A terminate gives the tasks
// the job's stop grace, else the server's.
func (s *Scheduler) Control(ctx context.Context, ref job.Ref, action job.Action) (int, error) {
	return s.ControlStop(ctx, ref, action, StopOptions{})
}

// StopOptions say how a terminate stops the tasks.
type StopOptions struct {
	// Grace is the time between the first signal and SIGKILL; nil: the
	// job's stop grace, else the server's; 0: SIGKILL at once.
	Grace *time.Duration
	// Signal is sent first (a name of job.StopSignals); "": SIGTERM.
	Signal string
}

// ControlStop is Control whose terminate stops the tasks as opts say.
func (s *Scheduler) ControlStop(ctx context.Context, ref job.Ref, action job.Action, opts StopOptions) (int, error) {
	s.mu.Lock()
	if err := s.syncedLocked(ctx); err != nil {
		s.mu.Unlock()
		return 0, err
	}
	tasks, js, err := s.targetsLocked(ctx, ref)
	if err != nil {
		s.mu.Unlock()
		return 0, err
	}
	now := s.cfg.Now().UTC()
	var changes []change
	var orders []order
	for _, t := range tasks {
		switch {
		case action == job.Hold && (t.State == job.Queued || t.State == job.Requeued && !t.live()):
			st := job.QueuedHeld
			if t.State == job.Requeued {
				st = job.RequeuedHeld
			}
			if s.moveLocked(js, t, st, job.SubState{Kind: job.ReasonHeld}, job.CauseHold) != nil {
				continue
			}
			s.undispatchLocked(js, t)
			js.queued.remove(t.Index)
			changes = append(changes, change{js: js, t: t})
		case action == job.Release && t.State.Held():
			st, sub := job.Queued, job.SubState{}
			if t.State == job.RequeuedHeld {
				st = job.Requeued
			}
			if len(js.wait) > 0 {
				sub = waitingSubState(js.wait)
			}
			if s.moveLocked(js, t, st, sub, job.CauseRelease) != nil {
				continue
			}
			t.RetryAt = nil // released: queued now, whatever its backoff
			requeueLocked(js, t)
			changes = append(changes, change{js: js, t: t})
		case action == job.Terminate && t.State.Pending() && !t.live():
			if s.moveLocked(js, t, job.Failed, job.SubState{Kind: job.ReasonCanceled}, job.CauseCancel) != nil {
				continue
			}
			s.undispatchLocked(js, t)
			js.queued.remove(t.Index)
			t.FinishedAt = &now
			changes = append(changes, change{js: js, t: t})
		case action == job.Terminate && t.live(),
			action == job.Suspend && t.State == job.Running,
			action == job.Resume && t.State == job.Suspended:
			c := dispatch.Control{TaskKey: dispatch.TaskKey{Job: js.id, Index: t.Index, Attempt: t.Attempt}, Action: action}
			if action == job.Terminate {
				g := cmp.Or(js.spec.Template.StopGrace.Std(), s.cfg.StopGrace)
				if opts.Grace != nil {
					g = *opts.Grace
				}
				c.Grace, c.Kill, c.Signal, c.Reason = job.Duration(g), g == 0, opts.Signal, job.ReasonCanceled
			}
			orders = append(orders, order{js, t, t.Worker, c})
		}
	}
	js.pool.fix(js)
	if js.ended() {
		changes = append(changes, s.jobEndedLocked(js, now)...)
	}
	if len(changes) == 0 && len(orders) == 0 {
		s.mu.Unlock()
		return 0, fmt.Errorf("%w: %s", job.ErrInvalidState, notApplicable(ref, action, tasks))
	}
	err = s.commitLocked(store.Durable(ctx), changes) // the user is answered after it
	works := s.dispatchLocked()
	s.mu.Unlock()
	s.publish(works)
	if err != nil {
		return 0, err
	}
	n, err := s.send(ctx, orders)
	return len(changes) + n, err
}

// send delivers control orders to workers. A suspend or resume the worker
// confirmed is recorded at once (the worker's event may follow).
func (s *Scheduler) send(ctx context.Context, orders []order) (int, error) {
	var errs []error
	n := 0
	for _, o := range orders {
		rep, err := s.cfg.Dispatcher.Control(ctx, o.worker, &o.ctl)
		if err == nil && !rep.OK {
			err = errors.New(rep.Error)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s of %s: %w", o.ctl.Action, taskRef(o.js, o.t.Index), err))
			continue
		}
		n++
		if w, ok := confirmed[o.ctl.Action]; ok {
			s.mu.Lock()
			// The task must still be the scheduler's own: after a reload
			// (see rollback.go) o.t is a stale copy, not to be written.
			_, cur := s.lookupLocked(o.js.id, o.t.Index)
			if cur == o.t && o.t.Attempt == o.ctl.Attempt && o.t.State == w.from &&
				s.moveLocked(o.js, o.t, w.to, job.SubState{}, w.cause) == nil {
				_ = s.commitLocked(store.Durable(ctx), []change{{js: o.js, t: o.t}})
			}
			s.mu.Unlock()
		}
	}
	return n, errors.Join(errs...)
}

// confirmed are the changes of state a worker's OK to a control makes.
var confirmed = map[job.Action]struct {
	from, to job.State
	cause    job.Cause
}{
	job.Suspend: {job.Running, job.Suspended, job.CauseSuspend},
	job.Resume:  {job.Suspended, job.Running, job.CauseResume},
}

// targetsLocked resolves a reference to the unended tasks it names.
func (s *Scheduler) targetsLocked(ctx context.Context, ref job.Ref) ([]*task, *jobState, error) {
	js := s.jobs[ref.Job]
	if js == nil {
		j, err := s.cfg.Store.JobGet(ctx, ref.Job)
		if err != nil {
			return nil, nil, err
		}
		if ref.HasIndex {
			if _, err := s.cfg.Store.TaskGet(ctx, ref.Job, ref.Index); err != nil {
				return nil, nil, err
			}
		}
		return nil, nil, fmt.Errorf("%w: job %d has ended (%s)", job.ErrInvalidState, ref.Job, j.State)
	}
	if !ref.HasIndex {
		return js.tasks.all(), js, nil
	}
	if t := js.tasks.get(ref.Index); t != nil {
		return []*task{t}, js, nil
	}
	t, err := s.cfg.Store.TaskGet(ctx, ref.Job, ref.Index)
	if err != nil {
		return nil, nil, err
	}
	return nil, nil, fmt.Errorf("%w: task %s has ended (%s)", job.ErrInvalidState, ref, t.State)
}

func notApplicable(ref job.Ref, a job.Action, tasks []*task) string {
	want := map[job.Action]string{
		job.Hold: "queued", job.Release: "held", job.Suspend: "running",
		job.Resume: "suspended", job.Terminate: "unended",
	}[a]
	what := "job " + ref.String()
	if ref.HasIndex {
		what = "task " + ref.String()
	}
	if len(tasks) == 1 {
		return fmt.Sprintf("%s is %s; %s applies only to %s tasks", what, tasks[0].State, a, want)
	}
	return fmt.Sprintf("no task of %s is %s", what, want)
}

// Remove deletes a job, its tasks and files. Without force it refuses a job
// with unended tasks; with force it stops them first and waits for their end
// (at most the stop grace and a little more).
func (s *Scheduler) Remove(ctx context.Context, id int64, force bool) error {
	s.mu.Lock()
	if err := s.syncedLocked(ctx); err != nil {
		s.mu.Unlock()
		return err
	}
	js := s.jobs[id]
	if js != nil && !force {
		st := js.counts.summarize()
		s.mu.Unlock()
		return fmt.Errorf("%w: job %d has not ended (%s); stop it first or force the removal", job.ErrInvalidState, id, st)
	}
	s.mu.Unlock()
	if js == nil {
		if _, err := s.cfg.Store.JobGet(ctx, id); err != nil {
			return err
		}
	} else if err := s.stopAll(ctx, id); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.syncedLocked(ctx); err != nil {
		return err
	}
	if js := s.jobs[id]; js != nil {
		// Still not ended: forget it, freeing what its tasks held.
		for _, t := range js.tasks.all() {
			if t.active() {
				js.pool.used--
			}
			if ws := s.workers[t.Worker]; ws != nil {
				delete(ws.tasks, t)
			}
		}
		js.active, js.queued, js.removed = 0, nil, true
		if err := s.commitLocked(ctx, s.jobEndedLocked(js, s.cfg.Now().UTC())); err != nil {
			return err
		}
	}
	if err := s.cfg.Store.JobDelete(ctx, id); err != nil {
		return fmt.Errorf("removing job %d: %w", id, err)
	}
	if err := os.RemoveAll(s.cfg.DataDir.JobDir(id)); err != nil {
		s.log.Warn("removing job files", "job", id, "err", err)
	}
	s.fan.emit(&job.Event{Job: id, Time: s.cfg.Now().UTC(), Removed: true, JobEnded: true})
	return nil
}

// stopAll terminates every unended task of a job and waits for it to end.
func (s *Scheduler) stopAll(ctx context.Context, id int64) error {
	events, cancel := s.Subscribe(1024)
	defer func() { cancel() }()
	grace := s.cfg.StopGrace // the server's, which the deadline below allows for
	_, err := s.ControlStop(ctx, job.Ref{Job: id}, job.Terminate, StopOptions{Grace: &grace})
	if err != nil && !errors.Is(err, job.ErrInvalidState) {
		s.log.Warn("stopping job before removal", "job", id, "err", err)
	}
	deadline := time.NewTimer(s.cfg.StopGrace + 5*time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		_, live := s.jobs[id]
		s.mu.Unlock()
		if !live {
			return nil
		}
		select {
		case _, ok := <-events:
			if !ok { // dropped for falling behind: listen again
				cancel()
				events, cancel = s.Subscribe(1024)
			}
		case <-deadline.C:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
