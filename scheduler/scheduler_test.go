package scheduler

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/store"
	"github.com/stretchr/testify/require"
)

// fakeDispatcher records what the scheduler publishes. The tests play the
// worker: they claim the published work and report events by hand.
type fakeDispatcher struct {
	mu       sync.Mutex
	works    []*dispatch.Work
	controls []dispatch.Control
	purged   int
}

func (f *fakeDispatcher) PublishWork(_ context.Context, w *dispatch.Work) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.works = append(f.works, w)
	return nil
}

func (f *fakeDispatcher) PurgeWork(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.purged++
	f.works = nil
	return nil
}

func (f *fakeDispatcher) Control(_ context.Context, _ string, c *dispatch.Control) (*dispatch.ControlReply, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.controls = append(f.controls, *c)
	return &dispatch.ControlReply{OK: true}, nil
}

// take removes and returns the published work.
func (f *fakeDispatcher) take() []*dispatch.Work {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := f.works
	f.works = nil
	return w
}

type bundle struct {
	s    *Scheduler
	st   *store.Store
	disp *fakeDispatcher
	dir  datadir.Dir
	ctx  context.Context
	// wantInvalid is set by tests that make invalid state changes.
	wantInvalid bool
}

func setup(t testing.TB, cfg Config) *bundle {
	t.Helper()
	return setupIn(t, t.TempDir(), cfg)
}

// setupIn is setup with the data directory dir.
func setupIn(t testing.TB, d string, cfg Config) *bundle {
	t.Helper()
	dir := datadir.Dir(d)
	st, err := store.Open(context.Background(), store.Config{Path: filepath.Join(string(dir), "berth.db"), Sync: "normal"})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	b := &bundle{st: st, disp: &fakeDispatcher{}, dir: dir, ctx: context.Background()}
	b.start(t, cfg)
	return b
}

func (b *bundle) start(t testing.TB, cfg Config) {
	t.Helper()
	cfg.Store, cfg.DataDir = b.st, b.dir
	if cfg.Dispatcher == nil {
		cfg.Dispatcher = b.disp
	}
	s, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start(b.ctx))
	t.Cleanup(s.Stop)
	// Runs before Stop: no test makes a change the state machine refuses,
	// unless it says so.
	t.Cleanup(func() {
		if !b.wantInvalid {
			require.Zero(t, s.invalid.Load(), "state changes refused by the state machine (see the log)")
		}
	})
	b.s = s
	// The workers the tests claim as, heard of in the default pool.
	for _, w := range []string{"w1", "w2"} {
		s.HandleHeartbeat(&dispatch.Heartbeat{Worker: w, Pool: job.PoolDefault})
	}
}

// take waits for the scheduler's published work and returns it.
func (b *bundle) take() []*dispatch.Work {
	b.s.flush()
	return b.disp.take()
}

func (b *bundle) submit(t *testing.T, spec job.Spec) int64 {
	t.Helper()
	id, err := b.s.Submit(b.ctx, spec)
	require.NoError(t, err)
	return id
}

// run claims a work item as worker "w1".
func (b *bundle) run(t *testing.T, w *dispatch.Work) {
	t.Helper()
	rep := b.s.HandleClaim(b.ctx, &dispatch.Claim{TaskKey: w.TaskKey, Worker: "w1", Host: "h"})
	require.True(t, rep.OK, rep.Reason)
}

// end reports a claimed attempt's exit.
func (b *bundle) end(t *testing.T, w *dispatch.Work, code int) {
	t.Helper()
	end := &dispatch.End{State: job.Done, SubState: job.ExitCode(code), ExitCode: &code}
	if code != 0 {
		end.State = job.Failed
	}
	_, err := b.s.HandleEvent(b.ctx, &dispatch.Event{TaskKey: w.TaskKey, Worker: "w1", Kind: dispatch.EventEnded, End: end})
	require.NoError(t, err)
}

func (b *bundle) task(t *testing.T, id int64, idx int) *job.Task {
	t.Helper()
	tk, err := b.st.TaskGet(b.ctx, id, idx)
	require.NoError(t, err)
	return tk
}

func cmdSpec(name string) job.Spec {
	return job.Spec{Name: name, Template: job.Template{Command: "true"}}
}

func TestPriorityThenFIFO(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	first := b.submit(t, cmdSpec("first"))
	busy := b.take()
	require.Len(t, busy, 1)
	require.Equal(t, first, busy[0].Job)
	b.run(t, busy[0])

	a := b.submit(t, cmdSpec("a"))
	bb := b.submit(t, cmdSpec("b"))
	spec := cmdSpec("urgent")
	spec.Priority = 5
	urgent := b.submit(t, spec)
	require.Empty(t, b.take(), "the only slot is busy")

	var order []int64
	prev := busy[0]
	for range 3 {
		b.end(t, prev, 0)
		ws := b.take()
		require.Len(t, ws, 1)
		order = append(order, ws[0].Job)
		b.run(t, ws[0])
		prev = ws[0]
	}
	require.Equal(t, []int64{urgent, a, bb}, order)
}

func TestArrayMaxParallel(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 8})
	spec := cmdSpec("arr")
	spec.Array = &job.Array{Begin: 1, End: 10, Step: 1}
	spec.MaxParallel = 3
	id := b.submit(t, spec)
	running := b.take()
	require.Len(t, running, 3)
	seen := map[int]bool{}
	for len(running) > 0 {
		require.LessOrEqual(t, len(running), 3)
		w := running[0]
		running = running[1:]
		seen[w.Index] = true
		b.run(t, w)
		b.end(t, w, 0)
		running = append(running, b.take()...)
	}
	require.Len(t, seen, 10)
	j, err := b.st.JobGet(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, job.Done, j.State)
}

func TestDependencies(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 4})
	a := b.submit(t, cmdSpec("a"))
	specB := cmdSpec("b")
	specB.After = []int64{a}
	bID := b.submit(t, specB)
	specC := cmdSpec("c")
	specC.After = []int64{bID}
	cID := b.submit(t, specC)
	ok := b.submit(t, cmdSpec("ok"))
	specD := cmdSpec("d")
	specD.After = []int64{ok}
	dID := b.submit(t, specD)

	require.Equal(t, job.SubState{Kind: job.ReasonDependsOn, Value: "1"}, b.task(t, bID, 0).SubState)
	ws := b.take()
	require.Len(t, ws, 2, "only a and ok may start")
	for _, w := range ws {
		b.run(t, w)
		code := 0
		if w.Job == a {
			code = 1
		}
		b.end(t, w, code)
	}
	require.Equal(t, job.Failed, b.task(t, bID, 0).State)
	require.Equal(t, job.SubState{Kind: job.ReasonDependency, Value: "1"}, b.task(t, bID, 0).SubState)
	require.Equal(t, job.Failed, b.task(t, cID, 0).State, "failure cascades")
	ws = b.take()
	require.Len(t, ws, 1)
	require.Equal(t, dID, ws[0].Job)
	require.Empty(t, b.task(t, dID, 0).SubState.Kind)

	// A dependency that already failed fails the job at submit; a missing one is refused.
	specE := cmdSpec("e")
	specE.After = []int64{a}
	eID := b.submit(t, specE)
	require.Equal(t, job.Failed, b.task(t, eID, 0).State)
	specF := cmdSpec("f")
	specF.After = []int64{999}
	_, err := b.s.Submit(b.ctx, specF)
	var fe *job.FieldError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "after[0]", fe.Field)
}

func TestHoldRelease(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 4})
	spec := cmdSpec("held")
	spec.Hold = true
	id := b.submit(t, spec)
	require.Empty(t, b.take())
	require.Equal(t, job.QueuedHeld, b.task(t, id, 0).State)
	_, err := b.s.Control(b.ctx, job.Ref{Job: id}, job.Hold)
	require.ErrorIs(t, err, job.ErrInvalidState)
	n, err := b.s.Control(b.ctx, job.Ref{Job: id}, job.Release)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	ws := b.take()
	require.Len(t, ws, 1)

	// Holding a dispatched task withdraws it: its claim is refused.
	n, err = b.s.Control(b.ctx, job.Ref{Job: id}, job.Hold)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	rep := b.s.HandleClaim(b.ctx, &dispatch.Claim{TaskKey: ws[0].TaskKey, Worker: "w1"})
	require.False(t, rep.OK)
}

func TestRetryRerunnable(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	timers := b.captureTimers()
	spec := cmdSpec("flaky")
	spec.Template.Rerunnable = true
	spec.Template.MaxAttempts = 4
	spec.Template.RetryDelay = job.Duration(2 * time.Second)
	spec.Template.RetryDelayMax = job.Duration(5 * time.Second)
	id := b.submit(t, spec)
	for attempt := 1; attempt <= 4; attempt++ {
		ws := b.take()
		require.Len(t, ws, 1)
		require.Equal(t, attempt, ws[0].Attempt)
		b.run(t, ws[0])
		b.end(t, ws[0], 2)
		if attempt == 4 {
			break
		}
		tk := b.task(t, id, 0)
		require.Equal(t, job.Requeued, tk.State)
		require.Equal(t, job.SubState{Kind: job.ReasonRetrying, Value: "EXIT_CODE 2"}, tk.SubState)
		require.NotNil(t, tk.RetryAt)
		// The wait doubles from 2s up to 5s, of which jitter takes up to half.
		bound := min(2*time.Second<<(attempt-1), 5*time.Second)
		d, fire := timers.next(t)
		require.LessOrEqual(t, d, bound)
		require.Greater(t, d, bound/2-time.Millisecond)
		require.Empty(t, b.take(), "attempt %d is not due yet", attempt+1)
		fire()
	}
	tk := b.task(t, id, 0)
	require.Equal(t, job.Failed, tk.State)
	require.Equal(t, 4, tk.Attempt)
	require.Empty(t, b.take())
	h, err := b.st.TaskHistory(b.ctx, id, 0)
	require.NoError(t, err)
	var retried []int
	for _, tr := range h {
		if tr.SubState.Kind == job.ReasonRetrying {
			require.Equal(t, "EXIT_CODE 2", tr.SubState.Value)
			require.NotNil(t, tr.RetryAt)
			retried = append(retried, tr.Attempt)
		}
	}
	require.Equal(t, []int{1, 2, 3}, retried, "every failed attempt is in the history: %+v", h)
}

// TestRetryWaitSurvivesRestart: a task waiting for its next attempt waits
// on after a restart, and one whose wait is past runs at once.
func TestRetryWaitSurvivesRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	b.captureTimers()
	spec := cmdSpec("flaky")
	spec.Template.Rerunnable = true
	spec.Template.RetryDelay = job.Duration(time.Hour)
	id := b.submit(t, spec)
	ws := b.take()
	b.run(t, ws[0])
	b.end(t, ws[0], 1)
	due := b.task(t, id, 0).RetryAt
	require.NotNil(t, due)
	b.s.Stop()

	b.start(t, Config{DefaultSlots: 1})
	require.Empty(t, b.take(), "not due yet")
	tk := b.task(t, id, 0)
	require.Equal(t, job.Requeued, tk.State)
	require.Equal(t, due.UnixNano(), tk.RetryAt.UnixNano())
	b.s.Stop()

	later := due.Add(time.Second)
	b.start(t, Config{DefaultSlots: 1, Now: func() time.Time { return later }})
	ws = b.take()
	require.Len(t, ws, 1, "due while the server was down: dispatched at start")
	require.Equal(t, 2, ws[0].Attempt)
}

// timers are the retry timers a test fires itself.
type timers struct {
	ch chan timer
}

type timer struct {
	d time.Duration
	f func()
}

// captureTimers makes the scheduler's retry timers the test's to fire.
func (b *bundle) captureTimers() *timers {
	ts := &timers{ch: make(chan timer, 100)}
	b.s.mu.Lock()
	b.s.afterFunc = func(d time.Duration, f func()) { ts.ch <- timer{d, f} }
	b.s.mu.Unlock()
	return ts
}

// next returns the next timer armed.
func (ts *timers) next(t *testing.T) (time.Duration, func()) {
	t.Helper()
	select {
	case tm := <-ts.ch:
		return tm.d, tm.f
	default:
		t.Fatal("no retry timer armed")
		return 0, nil
	}
}

func TestClaimOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	b.submit(t, cmdSpec("x"))
	w := b.take()[0]
	b.run(t, w)
	rep := b.s.HandleClaim(b.ctx, &dispatch.Claim{TaskKey: w.TaskKey, Worker: "w2"})
	require.False(t, rep.OK, "a second claim of the same attempt")
	// A repeated end is acknowledged and changes nothing.
	b.end(t, w, 0)
	b.end(t, w, 1)
	require.Equal(t, job.Done, b.task(t, w.Job, 0).State)
}

func TestTerminateQueued(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	b.submit(t, cmdSpec("busy"))
	w := b.take()[0]
	b.run(t, w)
	spec := cmdSpec("arr")
	spec.Array = &job.Array{Begin: 1, End: 4, Step: 1}
	id := b.submit(t, spec)
	n, err := b.s.Control(b.ctx, job.Ref{Job: id}, job.Terminate)
	require.NoError(t, err)
	require.Equal(t, 4, n)
	j, err := b.st.JobGet(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, job.Failed, j.State)
	require.Equal(t, job.ReasonCanceled, b.task(t, id, 2).SubState.Kind)
	// Terminating a running task goes to its worker.
	_, err = b.s.Control(b.ctx, job.Ref{Job: w.Job}, job.Terminate)
	require.NoError(t, err)
	require.Len(t, b.disp.controls, 1)
	require.Equal(t, job.ReasonCanceled, b.disp.controls[0].Reason)
}

func TestRestartAndLostWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 2, WorkerTimeout: 300 * time.Millisecond})
	spec := cmdSpec("r")
	spec.Template.Rerunnable = true
	runID := b.submit(t, spec)
	w := b.take()[0]
	b.run(t, w)
	queued := make([]int64, 3)
	for i := range queued {
		queued[i] = b.submit(t, cmdSpec("q"))
	}
	b.take()
	b.s.Stop()

	// A new scheduler on the same store re-dispatches what was queued and
	// keeps the running task until its worker is overdue.
	b.start(t, Config{DefaultSlots: 2, WorkerTimeout: 300 * time.Millisecond})
	ws := b.take()
	require.Len(t, ws, 1, "one slot is still held by the running task")
	require.Equal(t, job.Running, b.task(t, runID, 0).State)
	require.Eventually(t, func() bool {
		return b.task(t, runID, 0).State == job.Requeued
	}, 5*time.Second, 50*time.Millisecond, "the silent worker's task is lost and requeued")
	tk := b.task(t, runID, 0)
	require.Equal(t, job.ReasonRetrying, tk.SubState.Kind)
	require.Contains(t, tk.SubState.Value, "LOST")
}

func TestHandoff(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	spec := cmdSpec("arr")
	spec.Array = &job.Array{Begin: 1, End: 3, Step: 1}
	id := b.submit(t, spec)
	w := b.take()[0]
	b.run(t, w)
	code := 0
	ended := &dispatch.Event{TaskKey: w.TaskKey, Worker: "w1", Kind: dispatch.EventEnded, Next: true,
		End: &dispatch.End{State: job.Done, SubState: job.ExitCode(0), ExitCode: &code}}
	next, err := b.s.HandleEvent(b.ctx, ended)
	require.NoError(t, err)
	require.NotNil(t, next, "the next task is handed over")
	require.Equal(t, 2, next.Index)
	require.Empty(t, b.take(), "handed over, not published")
	tk := b.task(t, id, 2)
	require.Equal(t, job.Running, tk.State)
	require.Equal(t, "w1", tk.Worker)
	require.Equal(t, 1, tk.Attempt)

	// A repeated ended event gets the same work; a claim of it is refused.
	again, err := b.s.HandleEvent(b.ctx, ended)
	require.NoError(t, err)
	require.Equal(t, next, again)
	require.False(t, b.s.HandleClaim(b.ctx, &dispatch.Claim{TaskKey: next.TaskKey, Worker: "w2"}).OK)

	// Released unstarted, it goes back to the queue with its attempt unspent.
	_, err = b.s.HandleEvent(b.ctx, &dispatch.Event{TaskKey: next.TaskKey, Worker: "w1", Kind: dispatch.EventReleased})
	require.NoError(t, err)
	ws := b.take()
	require.Len(t, ws, 1)
	require.Equal(t, 2, ws[0].Index)
	require.Equal(t, 1, ws[0].Attempt)
	require.Equal(t, job.Queued, b.task(t, id, 2).State)
}

// TestHandleEventsBatch checks that events recorded together each take
// effect and get their own handed-over work, and that a bad event in the
// batch fails alone.
func TestHandleEventsBatch(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 2})
	spec := cmdSpec("arr")
	spec.Array = &job.Array{Begin: 1, End: 4, Step: 1}
	id := b.submit(t, spec)
	ws := b.take()
	require.Len(t, ws, 2)
	for _, w := range ws {
		b.run(t, w)
	}
	code := 0
	ended := func(w *dispatch.Work) *dispatch.Event {
		return &dispatch.Event{TaskKey: w.TaskKey, Worker: "w1", Kind: dispatch.EventEnded, Next: true,
			End: &dispatch.End{State: job.Done, SubState: job.ExitCode(0), ExitCode: &code}}
	}
	bad := &dispatch.Event{TaskKey: ws[1].TaskKey, Worker: "w1", Kind: "bogus"}
	res := b.s.HandleEvents(b.ctx, []*dispatch.Event{ended(ws[0]), bad, ended(ws[1]), ended(ws[1])})
	require.Len(t, res, 4)
	require.NoError(t, res[0].Err)
	require.ErrorContains(t, res[1].Err, "unknown event kind")
	require.NoError(t, res[2].Err)
	require.NoError(t, res[3].Err, "a repeated event is answered")
	require.NotNil(t, res[0].Next)
	require.NotNil(t, res[2].Next)
	require.Equal(t, res[2].Next, res[3].Next, "the repeat gets the same work")
	require.ElementsMatch(t, []int{3, 4}, []int{res[0].Next.Index, res[2].Next.Index})
	for _, w := range ws {
		require.Equal(t, job.Done, b.task(t, id, w.Index).State)
	}
	for _, i := range []int{3, 4} {
		tk := b.task(t, id, i)
		require.Equal(t, job.Running, tk.State)
		require.Equal(t, "w1", tk.Worker)
	}
	require.Empty(t, b.take(), "handed over, not published")
}

// TestLostHandoffReleased checks that work handed over in a reply its
// worker never got (lost to a server crash) goes back to the queue with its
// attempt unspent once the worker's heartbeat shows it does not hold it,
// while a started attempt missing from the heartbeat is lost.
func TestLostHandoffReleased(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b := setup(t, Config{DefaultSlots: 2, Now: clock})
	spec := cmdSpec("arr")
	spec.Array = &job.Array{Begin: 1, End: 3, Step: 1}
	spec.Template.Rerunnable = true
	id := b.submit(t, spec)
	ws := b.take()
	require.Len(t, ws, 2)
	for _, w := range ws {
		b.run(t, w)
	}
	_, err := b.s.HandleEvent(b.ctx, &dispatch.Event{TaskKey: ws[1].TaskKey, Worker: "w1", Kind: dispatch.EventStarted, PID: 4242})
	require.NoError(t, err)
	code := 0
	next, err := b.s.HandleEvent(b.ctx, &dispatch.Event{TaskKey: ws[0].TaskKey, Worker: "w1", Kind: dispatch.EventEnded, Next: true,
		End: &dispatch.End{State: job.Done, SubState: job.ExitCode(0), ExitCode: &code}})
	require.NoError(t, err)
	require.NotNil(t, next)
	require.Equal(t, 3, next.Index)

	// The reply never arrived; the worker runs only ws[1], then it too
	// disappears from the heartbeat.
	mu.Lock()
	now = now.Add(recentClaim + time.Second)
	mu.Unlock()
	b.s.HandleHeartbeat(&dispatch.Heartbeat{Worker: "w1", Running: nil})
	tk := b.task(t, id, 3)
	require.Equal(t, job.Queued, tk.State, "never started: back in the queue")
	require.Equal(t, 0, tk.Attempt, "its attempt unspent")
	started := b.task(t, id, ws[1].Index)
	require.Equal(t, job.Requeued, started.State, "started and gone: lost, and retried")
	require.Equal(t, job.ReasonRetrying, started.SubState.Kind)
	w := b.take()
	require.NotEmpty(t, w)
	for _, x := range w {
		if x.Index == 3 {
			require.Equal(t, 1, x.Attempt, "offered again as its first attempt")
		}
	}
}
