package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"
)

// task is one container the executor follows.
type task struct {
	e           *Executor
	id          string
	containerID string
	autoRemove  bool
	keep        bool // LabelKeep: Destroy keeps the container
	// mayRestart is set when the container has a restart policy: its die
	// event does not end it.
	mayRestart bool
	out        *outputs
	log        *slog.Logger
	// copies are the files to copy to the host at the end.
	copies copySpec

	mu sync.Mutex
	// state is Running, Suspended, or Requeued while the engine restarts
	// the container, until exit is set.
	state job.State
	exit  *executor.Exit
	// restarts counts the restarts by the restart policy seen so far;
	// changes lists the states the task entered on its own (see Changes).
	restarts int
	changes  []executor.Status
	// asked is the state Suspend or Resume is bringing the task to: a pause
	// or unpause event that brings another was done outside berth (docker
	// pause), and is a change of its own.
	asked job.State
	// changed is closed and replaced on every change below.
	changed chan struct{}
	// starts counts start events (restarts re-open the log stream).
	starts int
	// kills counts kill events; signals records which signals they sent.
	kills   int
	signals map[int]bool
	// stopped is set by Stop: SIGTERM and SIGKILL were asked for.
	stopped bool
	oom     bool
	died    bool // a die event came
	// dieCode is the exit code of the last die event, for auto-removed
	// containers that cannot be inspected after exit.
	dieCode *int
	dieTime time.Time
	stats   usage

	waited chan struct{} // closed once the wait loop saw the exit
	// attachEnded is closed when the attach stream has ended; attachOK
	// (set before) says it ended at the end of the output, cleanly.
	attachEnded chan struct{}
	attachOK    bool
	done        chan struct{} // closed once exit is set
	// settled is closed once the engine has finished with the stopped
	// container (its wait returned), or the task is no longer followed.
	settled chan struct{}
}

func newTask(e *Executor, id, containerID string, out *outputs, autoRemove, mayRestart bool, copies copySpec) *task {
	return &task{
		e: e, id: id, containerID: containerID, out: out, autoRemove: autoRemove, mayRestart: mayRestart, copies: copies,
		log:         e.log.With("task", id, "container", shortID(containerID)),
		state:       job.Running,
		signals:     map[int]bool{},
		changed:     make(chan struct{}),
		waited:      make(chan struct{}),
		attachEnded: make(chan struct{}),
		done:        make(chan struct{}),
		settled:     make(chan struct{}),
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func (t *task) broadcastLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// update changes the task under its lock and wakes whoever waits for a change.
func (t *task) update(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f()
	t.broadcastLocked()
}

// waitFor blocks until cond (called under the lock) holds, the task ends,
// ctx ends or timeout passes (0: none). It reports whether cond held.
func (t *task) waitFor(ctx context.Context, timeout time.Duration, cond func() bool) (bool, error) {
	var expire <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expire = timer.C
	}
	for {
		t.mu.Lock()
		ok, ended, changed := cond(), t.exit != nil, t.changed
		t.mu.Unlock()
		if ok || ended {
			return ok, nil
		}
		select {
		case <-changed:
		case <-expire:
			return false, nil
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// statsAfter is how long a task runs before its stats stream opens: the
// engine samples once a second, so a shorter task would get no sample anyway,
// and a stream costs the engine work at the start of every container.
const statsAfter = 500 * time.Millisecond

// logGiveUp is how long the output streams may make no progress after the
// exit before the executor stops them and reads what they missed.
const logGiveUp = 30 * time.Second

// run follows the container until it exits, then collects its exit. wait is
// a ContainerWait registered before the container started (or, on Recover,
// for not-running); att, if not nil, is attached to the container before it
// started, and carries its output until its first exit.
//
// The exit is delivered at the engine's die event when that says all there
// is to say (no restart policy, an exit code that is not 128+n): the engine
// sends it once the container's output is complete, but reports the wait
// (and lets the container be inspected) only after it has cleaned up the
// container, which takes it 100 ms or more. The wait is still drained
// afterwards; settled is closed then, and Destroy waits for it.
func (t *task) run(wait client.ContainerWaitResult, att *client.HijackedResponse) {
	ctx := t.e.ctx
	defer close(t.settled)
	logsDone := make(chan struct{})
	statsCtx, stopStats := context.WithCancel(ctx)
	defer stopStats()
	lctx, stopLogs := context.WithCancel(ctx)
	defer stopLogs()
	t.e.goroutine(func() { defer close(logsDone); t.followLogs(lctx, att) })
	t.e.goroutine(func() { t.followStats(statsCtx, statsAfter) })

	code, byDie, err := t.waitExit(ctx, &wait)
	if ctx.Err() != nil {
		return // the executor is closing; the container lives on
	}
	close(t.waited)
	stopStats()
	if att != nil && !t.mayRestart && t.awaitAttach(ctx) {
		// The attach stream carried the one run's output to its end: it
		// ends only once the engine has closed the container's streams,
		// after copying all they held, to the log as to the attach.
		t.out.setComplete()
	} else {
		t.logEnd(ctx)
	}
	if !t.awaitLogs(ctx, logsDone, stopLogs) {
		return
	}
	drain := func() {
		select {
		case <-wait.Result:
		case <-wait.Error:
		case <-ctx.Done():
		}
	}
	switch {
	case err != nil:
		t.end(ctx, &executor.Exit{ExitCode: -1, Finished: time.Now(), Err: err})
	case byDie:
		x := t.dieExitStatus(code)
		if len(t.copies.StageOut) > 0 {
			// Copy out of a container the engine is done with.
			drain()
			t.end(ctx, x)
			return
		}
		t.end(ctx, x)
		// The engine still cleans up: wait for it to report the stop.
		drain()
	default:
		t.end(ctx, t.collect(ctx, code))
	}
}

// awaitAttach waits, after the exit, for the attach stream to end, as long
// as it makes progress, and reports whether it ended cleanly.
func (t *task) awaitAttach(ctx context.Context) bool {
	tick := time.NewTicker(logGiveUp)
	defer tick.Stop()
	last := t.out.progress()
	for {
		select {
		case <-t.attachEnded:
			return t.attachOK
		case <-tick.C:
			if p := t.out.progress(); p != last {
				last = p
				continue
			}
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// awaitLogs waits for the output streams to end after the exit. If they
// make no progress for logGiveUp it stops them (they read the rest, see
// followLogs). It returns false if ctx ended first.
func (t *task) awaitLogs(ctx context.Context, done <-chan struct{}, stop context.CancelFunc) bool {
	tick := time.NewTicker(logGiveUp)
	defer tick.Stop()
	last := t.out.progress()
	for {
		select {
		case <-done:
			return true
		case <-tick.C:
			if p := t.out.progress(); p != last {
				last = p
				continue
			}
			t.log.Warn("the output stream made no progress for a while after the exit; output may be incomplete", "after", logGiveUp)
			stop()
			select {
			case <-done:
				return true
			case <-ctx.Done():
				return false
			}
		case <-ctx.Done():
			return false
		}
	}
}

// diedForGood returns the exit code of the die event when it ends the task for
// good and tells all about the exit: no restart policy, and not 128+n (a
// signal, maybe the OOM killer, which the inspected state tells).
func (t *task) diedForGood() (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.mayRestart || !t.died || t.dieCode == nil || *t.dieCode < 0 || *t.dieCode > 128 {
		return 0, false
	}
	return *t.dieCode, true
}

// waitExit returns the container's exit code once it has stopped for good:
// after a restart policy restarted it, it waits again. byDie reports an exit
// taken from the die event (see diedForGood) before the wait returned; the
// wait is then still to be drained.
func (t *task) waitExit(ctx context.Context, wait *client.ContainerWaitResult) (code int, byDie bool, err error) {
	for attempt := 0; ; {
		t.mu.Lock()
		changed := t.changed
		t.mu.Unlock()
		if c, ok := t.diedForGood(); ok {
			return c, true, nil
		}
		select {
		case <-changed:
			continue
		case r := <-wait.Result:
			if r.Error != nil && r.Error.Message != "" {
				t.log.Warn("wait", "err", r.Error.Message)
			}
			code = int(r.StatusCode)
		case err := <-wait.Error:
			if ctx.Err() != nil {
				return 0, false, ctx.Err()
			}
			if cerrdefs.IsNotFound(err) {
				if c, ok := t.dieExit(ctx); ok {
					return c, false, nil
				}
				return 0, false, fmt.Errorf("waiting for container %.12s: it is gone: %w", t.containerID, err)
			}
			// The connection broke (engine restart?): wait again, a few times.
			attempt++
			if attempt > 5 {
				return 0, false, fmt.Errorf("waiting for container %.12s: %w", t.containerID, err)
			}
			t.log.Warn("wait failed; waiting again", "err", err)
			select {
			case <-time.After(time.Duration(attempt) * time.Second):
			case <-ctx.Done():
				return 0, false, ctx.Err()
			}
			*wait = t.e.cli.ContainerWait(ctx, t.containerID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
			continue
		case <-ctx.Done():
			return 0, false, ctx.Err()
		}
		if !t.mayRestart {
			return code, false, nil
		}
		// Restarted by its restart policy? Then it is Requeued until it
		// runs again, and its end is still to come.
		t.mu.Lock()
		starts := t.starts
		t.mu.Unlock()
		res, err := t.e.cli.ContainerInspect(ctx, t.containerID, client.ContainerInspectOptions{})
		if err == nil && res.Container.State != nil && (res.Container.State.Restarting || res.Container.State.Running) {
			t.restarted(res.Container.RestartCount, res.Container.State.Restarting, starts)
			*wait = t.e.cli.ContainerWait(ctx, t.containerID, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
			continue
		}
		return code, false, nil
	}
}

// restarted records that the engine restarted the container for the n-th
// time: it is Requeued while restarting, unless it already runs again (a
// start event came since starts, or the engine said so).
func (t *task) restarted(n int, restarting bool, starts int) {
	t.update(func() {
		if n <= t.restarts || t.exit != nil {
			return
		}
		t.restarts = n
		t.changes = append(t.changes, executor.Status{State: job.Requeued, Restarts: n})
		if restarting && t.starts == starts {
			t.state = job.Requeued
		} else {
			t.changes = append(t.changes, executor.Status{State: job.Running, Restarts: n})
		}
		t.log.Debug("restarted by its restart policy", "restarts", n)
	})
}

// dieExit returns the exit code of the die event, for a container removed
// before it could be waited for (auto-remove).
func (t *task) dieExit(ctx context.Context) (int, bool) {
	t.waitFor(ctx, confirmAfter, func() bool { return t.dieCode != nil })
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dieCode == nil {
		return 0, false
	}
	return *t.dieCode, true
}

// collect builds the exit from the code, the container's final state, and
// the events and stats seen.
func (t *task) collect(ctx context.Context, code int) *executor.Exit {
	// The die event comes after the kill and oom events of this exit: once
	// it is in, they are too.
	t.waitFor(ctx, confirmAfter, func() bool { return t.died })
	if code == 128+int(unix.SIGKILL) {
		// A SIGKILL nobody sent is the OOM killer's; on a busy engine its
		// oom event may trail the exit, and the state's OOMKilled with it.
		t.waitFor(ctx, oomAfter, func() bool { return t.oom || t.stopped || t.signals[int(unix.SIGKILL)] })
	}
	x := &executor.Exit{ExitCode: code, Finished: time.Now()}
	res, err := t.e.cli.ContainerInspect(ctx, t.containerID, client.ContainerInspectOptions{})
	if err == nil && res.Container.State != nil {
		st := res.Container.State
		x.ExitCode = st.ExitCode
		x.OOMKilled = st.OOMKilled
		x.Restarts = res.Container.RestartCount
		if ft, err := time.Parse(time.RFC3339Nano, st.FinishedAt); err == nil && !ft.IsZero() && ft.Year() > 1 {
			x.Finished = ft
		}
	} else if err != nil && !cerrdefs.IsNotFound(err) {
		t.log.Warn("inspecting the ended container", "err", err)
	}
	t.mu.Lock()
	t.completeLocked(x)
	t.mu.Unlock()
	return x
}

// oomAfter bounds the wait for the oom event of a container killed by
// SIGKILL that no one sent.
const oomAfter = time.Second

// dieExitStatus builds the exit from the die event's code and time, and the
// events and stats seen, without asking the engine.
func (t *task) dieExitStatus(code int) *executor.Exit {
	t.mu.Lock()
	defer t.mu.Unlock()
	x := &executor.Exit{ExitCode: code, Finished: t.dieTime}
	if x.Finished.IsZero() {
		x.Finished = time.Now()
	}
	t.completeLocked(x)
	return x
}

// completeLocked adds to x what the events and stats told: OOM, usage, and
// the signal behind an exit code of 128+n.
func (t *task) completeLocked(x *executor.Exit) {
	x.OOMKilled = x.OOMKilled || t.oom
	x.Restarts = max(x.Restarts, t.restarts)
	x.CPUTime, x.MaxRSS = t.stats.cpu, t.stats.maxRSS
	if sig := x.ExitCode - 128; sig > 0 && sig < 65 {
		// An exit code of 128+n means signal n killed the process, if n
		// was sent: by Stop, by a kill anyone made, or by the OOM killer.
		sent := t.signals[sig] ||
			(t.stopped && (sig == int(unix.SIGTERM) || sig == int(unix.SIGKILL))) ||
			(x.OOMKilled && sig == int(unix.SIGKILL))
		if sent {
			x.Signal = unix.SignalName(unix.Signal(sig))
			x.ExitCode = -1
		}
	}
}

// end closes the output files, copies what the template asks for to the
// host (output and error paths, stage-out files), and records the exit.
func (t *task) end(ctx context.Context, x *executor.Exit) {
	if err := t.out.close(); err != nil {
		t.log.Warn("closing output files", "err", err)
	}
	x.OutputErr = t.out.writeErr()
	if x.Err == nil {
		x.CopyErr = t.copyOut(ctx)
		if x.CopyErr != nil {
			t.log.Warn("copying files to the host", "err", x.CopyErr)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.exit = x
	t.state = job.Failed
	if x.ExitCode == 0 && x.Signal == "" && x.Err == nil {
		t.state = job.Done
	}
	close(t.done)
	t.broadcastLocked()
	t.log.Debug("task ended", "exit_code", x.ExitCode, "signal", x.Signal, "oom", x.OOMKilled, "err", x.Err)
}

// followLogs copies the container's output to the files until the container
// has stopped for good. A follow stream ends when the container stops; if it
// starts again (restart policy) a new stream continues where the files are.
// Once the container has stopped, the stream ends as soon as it has
// delivered the last message of the log (see logEnd), and what a stream that
// ended early missed is read again.
//
// The first stream is att, when the container was attached to before its
// start: it carries the first run's output and ends at its exit. ctx ends
// the following (see awaitLogs), after which what the streams missed is
// read, unless the executor closes.
func (t *task) followLogs(ctx context.Context, att *client.HijackedResponse) {
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	t.out.setStop(stop)
	for attempt := 0; ; {
		t.mu.Lock()
		starts := t.starts
		t.mu.Unlock()
		var err error
		if att != nil {
			starts = max(starts, 1) // the attach stream has the first run
			err = t.copyAttach(fctx, att)
			att = nil
		} else {
			err = t.copyLogs(fctx)
		}
		if ctx.Err() != nil {
			t.readRest()
			return
		}
		if t.out.complete() {
			return
		}
		var retry <-chan time.Time
		if err != nil {
			attempt++
			if attempt > 5 {
				t.log.Warn("following the output failed; giving up", "err", err)
				return
			}
			t.log.Warn("following the output failed; again", "err", err)
			retry = time.After(time.Duration(attempt) * 500 * time.Millisecond)
		} else {
			attempt = 0
		}
		for again := false; !again; {
			t.mu.Lock()
			restarted, changed := t.starts > starts, t.changed
			t.mu.Unlock()
			if restarted {
				break
			}
			select {
			case <-t.waited:
				select {
				case <-t.out.endKnown:
				case <-ctx.Done():
					t.readRest()
					return
				}
				if t.out.complete() {
					return
				}
				// A follow stream of this engine (20.10) may end before
				// it delivered the last messages (about 1 run in 40 of
				// TestOutputLimit); the engine has closed the log, so a
				// plain read (skipping what the files hold) gets the rest,
				// for a pass over the engine's copy of the output.
				t.log.Debug("the log stream ended early; reading the log again")
				if err := t.readLogs(ctx, false); err != nil {
					t.log.Warn("reading the rest of the output", "err", err)
				}
				return
			case <-changed:
			case <-retry:
				again = true
			case <-ctx.Done():
				t.readRest()
				return
			}
		}
	}
}

// readRest reads what the output streams missed once they were given up on
// (see awaitLogs), unless the executor is closing.
func (t *task) readRest() {
	if t.e.ctx.Err() != nil || t.out.complete() {
		return
	}
	if err := t.readLogs(t.e.ctx, false); err != nil {
		t.log.Warn("reading the rest of the output", "err", err)
	}
}

func (t *task) copyLogs(ctx context.Context) error {
	return t.readLogs(ctx, true)
}

// copyAttach copies the attach stream into the files until it ends (the
// container's first exit) or ctx ends.
func (t *task) copyAttach(ctx context.Context, att *client.HijackedResponse) error {
	defer close(t.attachEnded)
	defer att.Close()
	stop := context.AfterFunc(ctx, att.Close)
	defer stop()
	err := t.out.demux(att.Reader, false)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err == nil {
		t.mu.Lock()
		t.attachOK = true
		t.mu.Unlock()
	}
	return err
}

// logEnd tells the log streams the last message of the container's log, read
// (cheaply: its tail) once the container has stopped and the engine has
// closed the log (its die event comes after that). The follow stream ends
// once it delivered that message, without waiting for the engine to end it
// (which takes it some 50 ms); if it ended before, the log is read again.
//
// The tail read holds the last few messages, for the last message of each
// stream, which tells whether an attach stream delivered all.
func (t *task) logEnd(ctx context.Context) {
	r, err := t.e.cli.ContainerLogs(ctx, t.containerID, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Timestamps: true, Tail: "16",
	})
	if err == nil {
		var (
			last   frameID
			lastOf [2]frameID
		)
		last, lastOf, err = lastFrames(r)
		r.Close()
		if err == nil {
			t.out.setEnd(&last, lastOf)
			return
		}
	}
	if ctx.Err() == nil {
		t.log.Debug("reading the end of the log", "err", err)
	}
	t.out.setEnd(nil, [2]frameID{})
}

func (t *task) readLogs(ctx context.Context, follow bool) error {
	r, err := t.e.cli.ContainerLogs(ctx, t.containerID, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: follow,
	})
	if err != nil {
		return err
	}
	defer r.Close()
	if err := t.out.demux(r, true); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// transition pauses or unpauses the container unless it is in state want,
// then waits until the engine reports want: its event, or, if none came in
// confirmAfter, the container's inspected state.
func (t *task) transition(ctx context.Context, want job.State) error {
	t.mu.Lock()
	state, ended := t.state, t.exit != nil
	t.mu.Unlock()
	if ended {
		return executor.ErrNotRunning
	}
	if state == want {
		return nil
	}
	t.update(func() { t.asked = want })
	defer t.update(func() { t.asked = "" })
	var err error
	if want == job.Suspended {
		_, err = t.e.cli.ContainerPause(ctx, t.containerID, client.ContainerPauseOptions{})
	} else {
		_, err = t.e.cli.ContainerUnpause(ctx, t.containerID, client.ContainerUnpauseOptions{})
	}
	if err != nil {
		if t.exited() != nil || cerrdefs.IsNotFound(err) {
			return fmt.Errorf("%w: %w", executor.ErrNotRunning, err)
		}
		if !cerrdefs.IsConflict(err) { // conflict: already in that state
			return err
		}
	}
	ok, err := t.waitFor(ctx, confirmAfter, func() bool { return t.state == want })
	if err != nil {
		return err
	}
	if t.exited() != nil {
		return executor.ErrNotRunning
	}
	if ok {
		return nil
	}
	// No event: ask the engine.
	res, err := t.e.cli.ContainerInspect(ctx, t.containerID, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	st := res.Container.State
	if st == nil || !st.Running {
		return executor.ErrNotRunning
	}
	got := job.Running
	if st.Paused {
		got = job.Suspended
	}
	t.setState(got)
	if got != want {
		return fmt.Errorf("container is %s, not %s", got, want)
	}
	return nil
}

func (t *task) setState(s job.State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.exit == nil && t.state != s {
		t.state = s
		t.broadcastLocked()
	}
}

// paused applies a pause (Suspended) or unpause (Running) event: one that
// Suspend or Resume did not ask for is a change (see Changes).
func (t *task) paused(s job.State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.exit != nil || t.state == s {
		return
	}
	if t.asked != s {
		t.changes = append(t.changes, executor.Status{State: s, Restarts: t.restarts})
	}
	t.state = s
	t.broadcastLocked()
}

// stop runs ContainerStop in the background and returns once the engine
// reports a signal sent (a kill event) or the stop call or the task ended.
func (t *task) stop(ctx context.Context, sig string, grace time.Duration) error {
	t.mu.Lock()
	if t.exit != nil {
		t.mu.Unlock()
		return executor.ErrNotRunning
	}
	t.stopped = true
	kills := t.kills
	t.mu.Unlock()
	secs := int(math.Ceil(grace.Seconds()))
	res := make(chan error, 1)
	t.e.goroutine(func() {
		_, err := t.e.cli.ContainerStop(t.e.ctx, t.containerID, client.ContainerStopOptions{Timeout: &secs, Signal: sig})
		res <- err
	})
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	delivered := make(chan error, 1)
	go func() {
		_, err := t.waitFor(wctx, 0, func() bool { return t.kills > kills })
		delivered <- err
	}()
	select {
	case err := <-res:
		if err != nil && !cerrdefs.IsNotFound(err) {
			if t.exited() != nil {
				return executor.ErrNotRunning
			}
			return err
		}
		return nil
	case err := <-delivered:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// exited returns a copy of the task's exit, or nil while it runs.
func (t *task) exited() *executor.Exit {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.exit == nil {
		return nil
	}
	x := *t.exit
	return &x
}

func (t *task) status() *executor.Status {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &executor.Status{State: t.state, Restarts: t.restarts}
	if t.exit != nil {
		x := *t.exit
		s.Exit = &x
	}
	return s
}
