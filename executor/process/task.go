package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	"golang.org/x/sys/unix"
)

// Child codes of siginfo_t.si_code for SIGCHLD; x/sys/unix lacks them.
const (
	cldExited    = 1
	cldKilled    = 2
	cldDumped    = 3
	cldTrapped   = 4
	cldStopped   = 5
	cldContinued = 6
)

// task is one running or ended process group.
type task struct {
	id  string
	pid int // also the process group ID
	log *slog.Logger

	mu    sync.Mutex
	state job.State // Running or Suspended until exit is set
	// held marks a Suspended state that Suspend inferred because the leader
	// is stuck behind a stopped vfork child (see heldByStoppedChild): no
	// stop or continue event will come for it.
	held bool
	exit *executor.Exit
	// changed is closed and replaced on every state change.
	changed chan struct{}
	// killTimer fires Stop's SIGKILL at killAt.
	killTimer *time.Timer
	killAt    time.Time

	done chan struct{} // closed once exit is set
	// waiters are the channels of Wait calls not answered yet, each with
	// the func that stops its context's watch.
	waiters map[chan *executor.Exit]func() bool
	// output, if not nil, is closed once the output pipes are drained;
	// outputErr then holds what the drains could not write.
	output    <-chan struct{}
	outputErr *outputErrs
	// direct are the output files handed to the child itself, whose
	// write errors only the child sees.
	direct []string
	// copies, when set, are the template's OutputPath and ErrorPath, which
	// get a copy of the output when the task ends.
	copies *copies
	// followed marks a task an earlier instance started (see follow.go);
	// note is then the path of its exit note, once read, guarded by mu.
	followed bool
	note     string
	// reaped is set once the leader's zombie is collected (by Destroy).
	reaped bool
}

// copies is what a task copies its output to at its end.
type copies struct {
	stdout, stderr, outputPath, errorPath string
}

func newTask(id string, pid int, log *slog.Logger) *task {
	return &task{
		id: id, pid: pid, log: log,
		state:   job.Running,
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// watch follows the leader until it exits. waitid with WNOWAIT peeks at the
// next event, the exit status and usage included, without reaping: the
// leader stays a zombie until Destroy. Its PID, which is the group ID,
// cannot be reused meanwhile, and if this process dies before the caller
// has handed the exit on, the zombie goes to the reaper (see reaper.go),
// which notes its status.
func (t *task) watch() {
	for {
		var info unix.Siginfo
		var ru unix.Rusage
		err := unix.Waitid(unix.P_PID, t.pid, &info, unix.WEXITED|unix.WSTOPPED|unix.WCONTINUED|unix.WNOWAIT, &ru)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.lost(err)
			return
		}
		switch info.Code {
		case cldStopped, cldTrapped:
			// Consume only a stop; if it turned into a continue meanwhile,
			// the next peek reports that.
			if t.consume(unix.WSTOPPED) {
				t.setState(job.Suspended)
			}
		case cldContinued:
			if t.consume(unix.WCONTINUED) {
				t.setState(job.Running)
			}
		case cldExited, cldKilled, cldDumped:
			// The output is complete once the group is gone; the leader,
			// a zombie still, keeps the group ID from being reused.
			t.killGroup()
			t.awaitOutput()
			t.finish(exitOf(&info, &ru))
			return
		}
	}
}

// consume takes the pending stop or continue event the peek saw.
func (t *task) consume(which int) bool {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, t.pid, &info, which|unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		// With WNOHANG and no event, waitid leaves si_signo zero.
		return err == nil && info.Signo != 0
	}
}

// killGroup kills what is left of the group after the leader exited.
func (t *task) killGroup() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := unix.Kill(-t.pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		t.log.Warn("killing stragglers", "task", t.id, "pgid", t.pid, "err", err)
	}
}

// awaitOutput waits for the output pipes to be drained, for up to
// outputGrace: a process that left the group may hold them open for ever.
func (t *task) awaitOutput() {
	if t.output == nil {
		return
	}
	select {
	case <-t.output:
		return
	default:
	}
	timer := time.NewTimer(outputGrace)
	defer timer.Stop()
	select {
	case <-t.output:
	case <-timer.C:
		t.log.Warn("a process outside the task's group holds its output open; reporting the exit without waiting for the rest", "task", t.id)
	}
}

// exitOf makes the exit that a child's siginfo and usage tell.
func exitOf(info *unix.Siginfo, ru *unix.Rusage) *executor.Exit {
	_, status := childFields(info)
	x := &executor.Exit{
		ExitCode: status,
		CPUTime:  time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		MaxRSS:   ru.Maxrss * 1024,
		Finished: time.Now(),
	}
	if info.Code != cldExited {
		x.ExitCode, x.Signal = -1, unix.SignalName(unix.Signal(status))
	}
	return x
}

// finish ends the task with x once killGroup has killed the rest of its
// group, and copies its output where the template says.
func (t *task) finish(x *executor.Exit) {
	x.OutputErr = t.outputErr.get()
	if x.OutputErr == nil {
		x.OutputErr = fullDisk(t.direct)
	}
	if c := t.copies; c != nil {
		if x.CopyErr = executor.CopyOutputs(c.stdout, c.stderr, c.outputPath, c.errorPath); x.CopyErr != nil {
			t.log.Warn("copying the output", "task", t.id, "err", x.CopyErr)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.endLocked(x)
}

// reap collects the zombie of an ended task's leader, once: the group ID
// may then name another group, but the task takes no signal once ended.
func (t *task) reap() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reaped || t.followed {
		return
	}
	t.reaped = true
	for {
		if _, err := unix.Wait4(t.pid, nil, 0, nil); !errors.Is(err, unix.EINTR) {
			return // ECHILD when lost: nothing to reap
		}
	}
}

// lost ends the task when its status cannot be waited for (someone else
// reaped it).
func (t *task) lost(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.endLocked(&executor.Exit{ExitCode: -1, Finished: time.Now(), Err: fmt.Errorf("waiting for process %d: %w", t.pid, err)})
}

func (t *task) endLocked(x *executor.Exit) {
	t.exit = x
	t.state = job.Failed
	if x.ExitCode == 0 && x.Signal == "" && x.Err == nil {
		t.state = job.Done
	}
	if t.killTimer != nil {
		t.killTimer.Stop()
	}
	close(t.done)
	for ch, stop := range t.waiters {
		stop()
		c := *x
		ch <- &c
		close(ch)
	}
	t.waiters = nil
	t.broadcastLocked()
	t.log.Debug("task ended", "task", t.id, "pid", t.pid, "exit_code", x.ExitCode, "signal", x.Signal, "err", x.Err)
}

func (t *task) setState(s job.State) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.held = false
	if t.exit == nil && t.state != s {
		t.state = s
		t.broadcastLocked()
	}
}

func (t *task) broadcastLocked() {
	close(t.changed)
	t.changed = make(chan struct{})
}

// signalLocked sends sig to the process group, unless the leader is reaped
// and the group ID may name another group by now.
func (t *task) signalLocked(sig unix.Signal) error {
	if t.exit != nil {
		return executor.ErrNotRunning
	}
	if err := unix.Kill(-t.pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("sending %s to process group %d: %w", unix.SignalName(sig), t.pid, err)
	}
	if sig == unix.SIGCONT && t.held {
		// SIGCONT drops the leader's pending stop, so it never stopped.
		t.held = false
		t.state = job.Running
		t.broadcastLocked()
	}
	return nil
}

// heldPoll is how often Suspend checks for a leader held by vfork, the one
// stop that raises no event, and how often Suspend and Resume look at a
// followed task, which raises none.
const heldPoll = 20 * time.Millisecond

// transition sends sig unless the task is in state want already, then
// waits until the wait loop has seen the leader reach want.
func (t *task) transition(ctx context.Context, want job.State, sig unix.Signal) error {
	t.mu.Lock()
	if t.exit == nil && t.state != want {
		if err := t.signalLocked(sig); err != nil {
			t.mu.Unlock()
			return err
		}
	}
	for {
		if t.exit != nil {
			t.mu.Unlock()
			return executor.ErrNotRunning
		}
		if t.state == want {
			t.mu.Unlock()
			return nil
		}
		changed := t.changed
		t.mu.Unlock()
		var poll <-chan time.Time
		if want == job.Suspended || t.followed {
			poll = time.After(heldPoll)
		}
		select {
		case <-changed:
		case <-poll:
			if t.followed {
				t.pollFollowed()
			} else if heldByStoppedChild(t.pid) {
				t.mu.Lock()
				if t.exit == nil && t.state == job.Running {
					t.state, t.held = job.Suspended, true
					t.broadcastLocked()
				}
				t.mu.Unlock()
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		t.mu.Lock()
	}
}

// stop sends SIGTERM and SIGCONT now and arms a SIGKILL for after grace,
// keeping an earlier one already armed.
func (t *task) stop(sig unix.Signal, grace time.Duration) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := t.signalLocked(sig); err != nil {
		return err
	}
	if err := t.signalLocked(unix.SIGCONT); err != nil {
		return err
	}
	at := time.Now().Add(grace)
	if t.killTimer != nil {
		if !t.killAt.After(at) {
			return nil
		}
		t.killTimer.Stop()
	}
	t.killAt = at
	t.killTimer = time.AfterFunc(grace, t.kill)
	return nil
}

// kill sends SIGKILL to the group if the leader has not exited.
func (t *task) kill() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.exit != nil {
		return
	}
	if err := t.signalLocked(unix.SIGKILL); err != nil {
		t.log.Warn("killing task", "task", t.id, "err", err)
	}
}

// wait returns a channel that receives the exit once and closes, or closes
// without a value when ctx ends first. It starts no goroutine: the exit is
// handed over by endLocked, the context's end by context.AfterFunc.
func (t *task) wait(ctx context.Context) <-chan *executor.Exit {
	ch := make(chan *executor.Exit, 1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.exit != nil {
		x := *t.exit
		ch <- &x
		close(ch)
		return ch
	}
	if t.waiters == nil {
		t.waiters = make(map[chan *executor.Exit]func() bool)
	}
	t.waiters[ch] = context.AfterFunc(ctx, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if _, ok := t.waiters[ch]; ok {
			delete(t.waiters, ch)
			close(ch)
		}
	})
	return ch
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
	s := &executor.Status{State: t.state}
	if t.exit != nil {
		x := *t.exit
		s.Exit = &x
	}
	return s
}
