package scheduler

import (
	"cmp"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

// clock is a test's time, moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// drive is a test's way through the scheduler to one transition.
type drive struct {
	b      *bundle
	clock  *clock
	timers *timers
}

func (d *drive) event(t *testing.T, w *dispatch.Work, kind dispatch.EventKind, restarts int) {
	t.Helper()
	_, err := d.b.s.HandleEvent(d.b.ctx, &dispatch.Event{TaskKey: w.TaskKey, Worker: "w1", Kind: kind, Restarts: restarts})
	require.NoError(t, err)
}

func (d *drive) control(t *testing.T, id int64, a job.Action) {
	t.Helper()
	n, err := d.b.s.Control(d.b.ctx, job.Ref{Job: id}, a)
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// run claims the only work published.
func (d *drive) run(t *testing.T) *dispatch.Work {
	t.Helper()
	ws := d.b.take()
	require.Len(t, ws, 1)
	d.b.run(t, ws[0])
	return ws[0]
}

// running submits spec and runs it: Running.
func (d *drive) running(t *testing.T, spec job.Spec) (int64, *dispatch.Work) {
	t.Helper()
	id := d.b.submit(t, spec)
	return id, d.run(t)
}

// suspended: Suspended, as the worker confirmed.
func (d *drive) suspended(t *testing.T, spec job.Spec) (int64, *dispatch.Work) {
	t.Helper()
	id, w := d.running(t, spec)
	d.control(t, id, job.Suspend)
	return id, w
}

// restarting: Requeued RESTARTING 1, on its worker.
func (d *drive) restarting(t *testing.T, spec job.Spec) (int64, *dispatch.Work) {
	t.Helper()
	id, w := d.running(t, spec)
	d.event(t, w, dispatch.EventRequeued, 1)
	return id, w
}

// requeued: Requeued RETRYING, waiting for its retry timer.
func (d *drive) requeued(t *testing.T) int64 {
	t.Helper()
	id, w := d.running(t, rerunnable())
	d.b.end(t, w, 1)
	return id
}

// retried: the retry of requeued is due, dispatched and claimed: Running
// in its second attempt.
func (d *drive) retried(t *testing.T) (int64, *dispatch.Work) {
	t.Helper()
	id := d.requeued(t)
	_, fire := d.timers.next(t)
	fire()
	return id, d.run(t)
}

func rerunnable() job.Spec {
	spec := cmdSpec("rerun")
	spec.Template.Rerunnable = true
	spec.Template.MaxAttempts = 3
	spec.Template.RetryDelay = job.Duration(time.Hour)
	return spec
}

func held() job.Spec {
	spec := cmdSpec("held")
	spec.Hold = true
	return spec
}

func after(ids ...int64) job.Spec {
	spec := cmdSpec("after")
	spec.After = ids
	return spec
}

// way reaches a transition's from state and returns the task and how to
// apply the cause. want, if set, is the sub-state the task must have after.
type way struct {
	name string
	run  func(t *testing.T, d *drive) (id int64, cause func(), want *job.SubState)
}

// waySlots are the pool's slots for the ways named; 2 for the others.
var waySlots = map[string]int{"handoff": 1}

func sub(kind job.Reason, value string) *job.SubState { return &job.SubState{Kind: kind, Value: value} }

// ways lists, for every transition of job.Transitions, the ways the
// scheduler makes it.
var ways = map[job.Transition][]way{
	{From: job.Undetermined, To: job.Queued, Cause: job.CauseSubmit}: {{"submit", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		return 1, func() { d.b.submit(t, cmdSpec("x")) }, sub(job.ReasonNone, "")
	}}},
	{From: job.Undetermined, To: job.QueuedHeld, Cause: job.CauseSubmit}: {{"submit held", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		return 1, func() { d.b.submit(t, held()) }, sub(job.ReasonHeld, "")
	}}},
	{From: job.Queued, To: job.QueuedHeld, Cause: job.CauseHold}: {{"hold", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id := d.b.submit(t, cmdSpec("x"))
		return id, func() { d.control(t, id, job.Hold) }, sub(job.ReasonHeld, "")
	}}},
	{From: job.Requeued, To: job.RequeuedHeld, Cause: job.CauseHold}: {{"hold", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id := d.requeued(t)
		return id, func() { d.control(t, id, job.Hold) }, sub(job.ReasonHeld, "")
	}}},
	{From: job.QueuedHeld, To: job.Queued, Cause: job.CauseRelease}: {{"release", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id := d.b.submit(t, held())
		return id, func() { d.control(t, id, job.Release) }, sub(job.ReasonNone, "")
	}}},
	{From: job.RequeuedHeld, To: job.Requeued, Cause: job.CauseRelease}: {{"release", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id := d.requeued(t)
		d.control(t, id, job.Hold)
		return id, func() { d.control(t, id, job.Release) }, nil
	}}},
	{From: job.Queued, To: job.Running, Cause: job.CauseStart}: {
		{"claim", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
			id := d.b.submit(t, cmdSpec("x"))
			return id, func() { d.run(t) }, nil
		}},
		{"handoff", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
			_, w := d.running(t, cmdSpec("first"))
			id := d.b.submit(t, cmdSpec("next"))
			require.Empty(t, d.b.take(), "the only slot is busy")
			return id, func() {
				code := 0
				next, err := d.b.s.HandleEvent(d.b.ctx, &dispatch.Event{TaskKey: w.TaskKey, Worker: "w1", Kind: dispatch.EventEnded, Next: true,
					End: &dispatch.End{State: job.Done, SubState: job.ExitCode(0), ExitCode: &code}})
				require.NoError(t, err)
				require.NotNil(t, next)
				require.Equal(t, id, next.Job)
			}, nil
		}},
	},
	{From: job.Requeued, To: job.Running, Cause: job.CauseStart}: {{"retry claimed", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id := d.requeued(t)
		return id, func() {
			_, fire := d.timers.next(t)
			fire()
			d.run(t)
		}, nil
	}}},
	{From: job.Running, To: job.Queued, Cause: job.CauseReturn}: {
		{"released event", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
			id, w := d.running(t, cmdSpec("x"))
			return id, func() { d.event(t, w, dispatch.EventReleased, 0) }, nil
		}},
		{"missing from heartbeat, never started", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
			id, _ := d.running(t, cmdSpec("x"))
			return id, func() {
				d.clock.add(recentClaim + time.Second)
				d.b.s.HandleHeartbeat(&dispatch.Heartbeat{Worker: "w1", Pool: job.PoolDefault})
			}, nil
		}},
	},
	{From: job.Running, To: job.Requeued, Cause: job.CauseReturn}: {{"released event of a retry", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id, w := d.retried(t)
		return id, func() { d.event(t, w, dispatch.EventReleased, 0) }, sub(job.ReasonNone, "")
	}}},
	{From: job.Running, To: job.Suspended, Cause: job.CauseSuspend}: {
		{"control", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
			id, _ := d.running(t, cmdSpec("x"))
			return id, func() { d.control(t, id, job.Suspend) }, nil
		}},
		{"event", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
			id, w := d.running(t, cmdSpec("x"))
			return id, func() { d.event(t, w, dispatch.EventSuspended, 0) }, nil
		}},
	},
	{From: job.Suspended, To: job.Running, Cause: job.CauseResume}: {
		{"control", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
			id, _ := d.suspended(t, cmdSpec("x"))
			return id, func() { d.control(t, id, job.Resume) }, nil
		}},
		{"event", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
			id, w := d.suspended(t, cmdSpec("x"))
			return id, func() { d.event(t, w, dispatch.EventResumed, 0) }, nil
		}},
	},
	{From: job.Running, To: job.Requeued, Cause: job.CauseRestart}: {{"requeued event", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id, w := d.running(t, cmdSpec("x"))
		return id, func() { d.event(t, w, dispatch.EventRequeued, 1) }, sub(job.ReasonRestarting, "1")
	}}},
	{From: job.Requeued, To: job.Requeued, Cause: job.CauseRestart}: {{"requeued event", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id, w := d.restarting(t, cmdSpec("x"))
		return id, func() { d.event(t, w, dispatch.EventRequeued, 2) }, sub(job.ReasonRestarting, "2")
	}}},
	{From: job.Requeued, To: job.Running, Cause: job.CauseRestart}: {{"running event", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id, w := d.restarting(t, cmdSpec("x"))
		return id, func() { d.event(t, w, dispatch.EventRunning, 1) }, sub(job.ReasonNone, "")
	}}},
	{From: job.Running, To: job.Done, Cause: job.CauseEnd}: {{"ended event", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id, w := d.running(t, cmdSpec("x"))
		return id, func() { d.b.end(t, w, 0) }, sub(job.ReasonExitCode, "0")
	}}},
	{From: job.Running, To: job.Failed, Cause: job.CauseEnd}: {
		{"ended event", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
			id, w := d.running(t, cmdSpec("x"))
			return id, func() { d.b.end(t, w, 1) }, sub(job.ReasonExitCode, "1")
		}},
		{"started, missing from heartbeat", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
			id, w := d.running(t, cmdSpec("x"))
			_, err := d.b.s.HandleEvent(d.b.ctx, &dispatch.Event{TaskKey: w.TaskKey, Worker: "w1", Kind: dispatch.EventStarted, PID: 42})
			require.NoError(t, err)
			return id, func() {
				d.clock.add(recentClaim + time.Second)
				d.b.s.HandleHeartbeat(&dispatch.Heartbeat{Worker: "w1", Pool: job.PoolDefault})
			}, sub(job.ReasonLost, "")
		}},
	},
	{From: job.Suspended, To: job.Done, Cause: job.CauseEnd}: {{"ended event", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id, w := d.suspended(t, cmdSpec("x"))
		return id, func() { d.b.end(t, w, 0) }, nil
	}}},
	{From: job.Suspended, To: job.Failed, Cause: job.CauseEnd}: {{"ended event", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id, w := d.suspended(t, cmdSpec("x"))
		return id, func() { d.b.end(t, w, 1) }, nil
	}}},
	{From: job.Requeued, To: job.Done, Cause: job.CauseEnd}: {{"ended event while restarting", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id, w := d.restarting(t, cmdSpec("x"))
		return id, func() { d.b.end(t, w, 0) }, nil
	}}},
	{From: job.Requeued, To: job.Failed, Cause: job.CauseEnd}: {{"ended event while restarting", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id, w := d.restarting(t, cmdSpec("x"))
		return id, func() { d.b.end(t, w, 3) }, sub(job.ReasonExitCode, "3")
	}}},
	{From: job.Running, To: job.Requeued, Cause: job.CauseRetry}: {{"failed, rerunnable", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id, w := d.running(t, rerunnable())
		return id, func() { d.b.end(t, w, 1) }, sub(job.ReasonRetrying, "EXIT_CODE 1")
	}}},
	{From: job.Suspended, To: job.Requeued, Cause: job.CauseRetry}: {{"failed, rerunnable", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id, w := d.suspended(t, rerunnable())
		return id, func() { d.b.end(t, w, 1) }, sub(job.ReasonRetrying, "EXIT_CODE 1")
	}}},
	{From: job.Requeued, To: job.Requeued, Cause: job.CauseRetry}: {{"failed while restarting, rerunnable", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id, w := d.restarting(t, rerunnable())
		return id, func() { d.b.end(t, w, 1) }, sub(job.ReasonRetrying, "EXIT_CODE 1")
	}}},
	{From: job.Queued, To: job.Failed, Cause: job.CauseCancel}: {{"stop", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id := d.b.submit(t, cmdSpec("x"))
		return id, func() { d.control(t, id, job.Terminate) }, sub(job.ReasonCanceled, "")
	}}},
	{From: job.QueuedHeld, To: job.Failed, Cause: job.CauseCancel}: {{"stop", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id := d.b.submit(t, held())
		return id, func() { d.control(t, id, job.Terminate) }, sub(job.ReasonCanceled, "")
	}}},
	{From: job.Requeued, To: job.Failed, Cause: job.CauseCancel}: {{"stop", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id := d.requeued(t)
		return id, func() { d.control(t, id, job.Terminate) }, sub(job.ReasonCanceled, "")
	}}},
	{From: job.RequeuedHeld, To: job.Failed, Cause: job.CauseCancel}: {{"stop", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		id := d.requeued(t)
		d.control(t, id, job.Hold)
		return id, func() { d.control(t, id, job.Terminate) }, sub(job.ReasonCanceled, "")
	}}},
	{From: job.Queued, To: job.Failed, Cause: job.CauseDependency}: {{"dependency failed", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		a, w := d.running(t, cmdSpec("a"))
		id := d.b.submit(t, after(a))
		return id, func() { d.b.end(t, w, 1) }, sub(job.ReasonDependency, fmt.Sprint(a))
	}}},
	{From: job.QueuedHeld, To: job.Failed, Cause: job.CauseDependency}: {{"dependency failed", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		a, w := d.running(t, cmdSpec("a"))
		spec := after(a)
		spec.Hold = true
		id := d.b.submit(t, spec)
		return id, func() { d.b.end(t, w, 1) }, sub(job.ReasonDependency, fmt.Sprint(a))
	}}},
	{From: job.Queued, To: job.Queued, Cause: job.CauseDependency}: {{"one of two dependencies done", func(t *testing.T, d *drive) (int64, func(), *job.SubState) {
		a, w := d.running(t, cmdSpec("a"))
		c, _ := d.running(t, cmdSpec("c"))
		id := d.b.submit(t, after(a, c))
		require.Equal(t, job.SubState{Kind: job.ReasonDependsOn, Value: fmt.Sprintf("%d,%d", a, c)}, d.b.task(t, id, 0).SubState)
		return id, func() { d.b.end(t, w, 0) }, sub(job.ReasonDependsOn, fmt.Sprint(c))
	}}},
}

// TestTransitionsDriven makes every transition of job.Transitions through
// the scheduler, each in every way it is made, with the store on disk: the
// task is in the from state before and in the to state after, and the
// state machine refused nothing meanwhile (see setup).
func TestTransitionsDriven(t *testing.T) {
	t.Parallel()
	for _, tr := range job.Transitions {
		ws := ways[tr]
		require.NotEmpty(t, ws, "no way to make %s → %s on %s", tr.From, tr.To, tr.Cause)
		for _, w := range ws {
			t.Run(fmt.Sprintf("%s→%s/%s/%s", tr.From, tr.To, tr.Cause, w.name), func(t *testing.T) {
				t.Parallel()
				clk := &clock{now: time.Now()}
				b := setup(t, Config{DefaultSlots: cmp.Or(waySlots[w.name], 2), Now: clk.Now})
				d := &drive{b: b, clock: clk, timers: b.captureTimers()}
				id, cause, want := w.run(t, d)
				if tr.From != job.Undetermined {
					require.Equal(t, tr.From, b.task(t, id, 0).State, "before")
				}
				cause()
				tk := b.task(t, id, 0)
				require.Equal(t, tr.To, tk.State, "after")
				if want != nil {
					require.Equal(t, *want, tk.SubState)
				}
			})
		}
	}
	require.Len(t, ways, len(job.Transitions), "a way listed for a transition not in the table")
}

// TestTransitionRefused tries, on a task in each state the scheduler keeps,
// every change the state machine does not allow: each is refused with
// errTransition, counted, and changes nothing.
func TestTransitionRefused(t *testing.T) {
	t.Parallel()
	states := map[string]func(t *testing.T, d *drive) int64{
		"Queued":               func(t *testing.T, d *drive) int64 { return d.b.submit(t, cmdSpec("x")) },
		"QueuedHeld":           func(t *testing.T, d *drive) int64 { return d.b.submit(t, held()) },
		"Running":              func(t *testing.T, d *drive) int64 { id, _ := d.running(t, cmdSpec("x")); return id },
		"Suspended":            func(t *testing.T, d *drive) int64 { id, _ := d.suspended(t, cmdSpec("x")); return id },
		"Requeued waiting":     func(t *testing.T, d *drive) int64 { return d.requeued(t) },
		"Requeued restarting":  func(t *testing.T, d *drive) int64 { id, _ := d.restarting(t, cmdSpec("x")); return id },
		"RequeuedHeld":         func(t *testing.T, d *drive) int64 { id := d.requeued(t); d.control(t, id, job.Hold); return id },
		"Queued waiting a job": func(t *testing.T, d *drive) int64 { a, _ := d.running(t, cmdSpec("a")); return d.b.submit(t, after(a)) },
	}
	for name, reach := range states {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clk := &clock{now: time.Now()}
			b := setup(t, Config{DefaultSlots: 2, Now: clk.Now})
			b.wantInvalid = true
			d := &drive{b: b, clock: clk, timers: b.captureTimers()}
			id := reach(t, d)
			b.s.mu.Lock()
			defer b.s.mu.Unlock()
			js, tk := b.s.lookupLocked(id, 0)
			require.NotNil(t, tk)
			from, fromSub, counts := tk.State, tk.SubState, js.counts
			refused := 0
			for _, to := range job.States {
				for _, c := range job.Causes {
					if job.CanTransition(from, to, c) && tk.live() == c.OnAttempt() {
						continue // allowed: TestTransitionsDriven makes it
					}
					err := b.s.moveLocked(js, tk, to, job.SubState{Kind: job.ReasonNone}, c)
					require.ErrorIs(t, err, errTransition, "%s → %s on %s", from, to, c)
					require.Equal(t, from, tk.State)
					require.Equal(t, fromSub, tk.SubState)
					require.Equal(t, counts, js.counts)
					require.Same(t, tk, js.tasks.get(0))
					refused++
				}
			}
			require.Greater(t, refused, len(job.States)*len(job.Causes)-len(job.Transitions))
			require.Equal(t, int64(refused), b.s.invalid.Load())
		})
	}
}

// TestEventRefusedByStateMachine checks that a worker's event the state
// machine refuses is refused for good, not applied nor retried.
func TestEventRefusedByStateMachine(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 2})
	b.wantInvalid = true
	d := &drive{b: b, timers: b.captureTimers()}

	// Restarted where it ran while suspended: no such transition.
	id, w := d.suspended(t, cmdSpec("x"))
	_, err := b.s.HandleEvent(b.ctx, &dispatch.Event{TaskKey: w.TaskKey, Worker: "w1", Kind: dispatch.EventRequeued, Restarts: 1})
	require.ErrorIs(t, err, dispatch.ErrRefused)
	require.ErrorIs(t, err, errTransition)
	require.Equal(t, job.Suspended, b.task(t, id, 0).State)
	require.Equal(t, int64(1), b.s.invalid.Load())

	// An end that is not an end.
	id, w = d.running(t, cmdSpec("y"))
	_, err = b.s.HandleEvent(b.ctx, &dispatch.Event{TaskKey: w.TaskKey, Worker: "w1", Kind: dispatch.EventEnded, End: &dispatch.End{State: job.Queued}})
	require.ErrorIs(t, err, dispatch.ErrRefused)
	require.ErrorContains(t, err, "end.state")
	tk := b.task(t, id, 0)
	require.Equal(t, job.Running, tk.State)
	require.Nil(t, tk.FinishedAt)
}
