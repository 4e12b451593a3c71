// Package process runs berth tasks as plain OS processes on Linux.
//
// Each task is the leader of its own process group; signals for suspend,
// resume and stop go to the whole group, and whatever is left of the group
// when the leader exits is killed. Output goes straight to the task's files,
// so it survives the executor's own death. A task is followed by one
// goroutine blocked in waitid/wait4, which sees stops and continues as well
// as the exit.
//
// A restarted executor cannot wait for a task its predecessor started: the
// task is not its child. With Config.ExitNotes it follows such a task
// anyway when the task's parent is now a reaper (see Reap) that notes its
// exit status: Recoverable lists those, Recover re-attaches (the end seen
// on a pidfd, the status read from the note). Other leftovers cannot be
// known: Recover and Cleanup kill them and report them lost. A handle's
// state is the task's PID and start time (handle.go).
//
// The executor is no executor.Execer: a further command for a process task
// is just another process, which its caller starts as another task (with
// the same Env and WorkDir) or itself.
package process

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	"golang.org/x/sys/unix"
)

// Driver is the Handle.Driver of process tasks; see handle.go for the
// Handle.State.
const Driver = "process"

// ErrStillRunning is returned by Destroy without force for a task that has
// not ended. It matches executor.ErrNotRunning, the interface's only
// wrong-state error, so callers written against executor.Executor can tell
// it from other failures.
var ErrStillRunning error = stillRunningError{}

type stillRunningError struct{}

func (stillRunningError) Error() string        { return "task is still running" }
func (stillRunningError) Is(target error) bool { return target == executor.ErrNotRunning }

// Config configures an Executor.
type Config struct {
	// Logger receives task starts and exits. Defaults to discarding.
	Logger *slog.Logger
	// DieWithParent makes the kernel kill each task's leader (SIGKILL) when
	// the process that started it dies: for callers that cannot follow
	// tasks after their own restart and whose tasks are run again
	// elsewhere (remote workers). Defaults to false: tasks outlive a crash
	// of the caller, which re-attaches through StateDir.
	DieWithParent bool
	// StateDir, when set, holds the task journal (see state.go), the Handle
	// of each live task, so that Cleanup and Recoverable can find tasks an
	// earlier instance left behind. Defaults to none.
	StateDir string
	// ExitNotes, when set with StateDir, is the directory where a reaper
	// (Reap) notes the exits of tasks whose starter died; tasks an earlier
	// instance left are then followed again where a reaper has them.
	// Defaults to none: they are killed and reported lost.
	ExitNotes string
}

// Executor runs tasks as process groups. It is safe for concurrent use.
type Executor struct {
	log           *slog.Logger
	stateDir      string
	exitNotes     string
	dieWithParent bool
	// journal is the open task journal (see state.go) and jlines its
	// length in lines, both guarded by jmu.
	jmu     sync.Mutex
	journal *os.File
	jlines  int

	tasks executor.Registry[*task]
	paths pathCache

	// null is /dev/null open for reading and for writing, opened once.
	nullOnce sync.Once
	null     [2]uintptr
	nullErr  error
}

var (
	_ executor.Executor  = (*Executor)(nil)
	_ executor.Recoverer = (*Executor)(nil)
	_ executor.Cleaner   = (*Executor)(nil)
	_ executor.Signaler  = (*Executor)(nil)
)

// New returns an Executor.
func New(cfg Config) *Executor {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Executor{log: log, stateDir: cfg.StateDir, exitNotes: cfg.ExitNotes, dieWithParent: cfg.DieWithParent}
}

// get returns the task with the given ID.
func (e *Executor) get(id string) (*task, error) { return e.tasks.Get(id) }

// Wait returns a channel that receives the task's exit once and then closes.
// It closes without a value if ctx ends first.
func (e *Executor) Wait(ctx context.Context, id string) (<-chan *executor.Exit, error) {
	t, err := e.get(id)
	if err != nil {
		return nil, err
	}
	return t.wait(ctx), nil
}

// Suspend stops the task's process group with SIGSTOP and returns once the
// leader is seen stopped, or seen stuck in vfork behind a stopped child (a
// wait that cannot be stopped, and raises no event). Suspending a suspended
// task does nothing; an ended one gives an error wrapping
// executor.ErrNotRunning.
func (e *Executor) Suspend(ctx context.Context, id string) error {
	t, err := e.get(id)
	if err != nil {
		return err
	}
	if err := t.transition(ctx, job.Suspended, unix.SIGSTOP); err != nil {
		return fmt.Errorf("suspend %s: %w", id, err)
	}
	return nil
}

// Resume continues the task's process group with SIGCONT and returns once
// the leader is seen running. Resuming a running task does nothing; an ended
// one gives an error wrapping executor.ErrNotRunning.
func (e *Executor) Resume(ctx context.Context, id string) error {
	t, err := e.get(id)
	if err != nil {
		return err
	}
	if err := t.transition(ctx, job.Running, unix.SIGCONT); err != nil {
		return fmt.Errorf("resume %s: %w", id, err)
	}
	return nil
}

// Stop sends SIGTERM and then SIGCONT to the task's process group, so that a
// suspended task can handle the SIGTERM, and SIGKILL after grace unless the
// leader has exited by then. Of several Stops the earliest SIGKILL holds. An
// ended task gives an error wrapping executor.ErrNotRunning.
func (e *Executor) Stop(ctx context.Context, id string, grace time.Duration) error {
	return e.StopSignal(ctx, id, "SIGTERM", grace)
}

// StopSignal is Stop that sends sig first.
func (e *Executor) StopSignal(_ context.Context, id, sig string, grace time.Duration) error {
	n := unix.SignalNum(sig)
	if n == 0 {
		return fmt.Errorf("stop %s: unknown signal %q", id, sig)
	}
	t, err := e.get(id)
	if err != nil {
		return err
	}
	if err := t.stop(n, grace); err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	return nil
}

// Inspect returns the task's state: Running or Suspended while it lives,
// then Done (exit status 0) or Failed, with its Exit.
func (e *Executor) Inspect(_ context.Context, id string) (*executor.Status, error) {
	t, err := e.get(id)
	if err != nil {
		return nil, err
	}
	return t.status(), nil
}

// Destroy forgets an ended task, reaps its leader's zombie and notes it
// forgotten in the journal. A live task is refused with ErrStillRunning
// unless force is set; then its process group is killed and Destroy waits
// for the leader's exit. Until Destroy the leader stays a zombie: a caller
// that dies before it has handed the exit on (the worker, before the
// server has recorded the end) leaves it to its reaper, which notes it.
func (e *Executor) Destroy(ctx context.Context, id string, force bool) error {
	t, err := e.get(id)
	if err != nil {
		return err
	}
	if t.exited() == nil {
		if !force {
			return fmt.Errorf("destroy %s: %w", id, ErrStillRunning)
		}
		t.kill()
		select {
		case <-t.done:
		case <-ctx.Done():
			return fmt.Errorf("destroy %s: waiting for the kill: %w", id, ctx.Err())
		}
	}
	e.tasks.Delete(id, t)
	t.reap()
	if err := e.removeState(id); err != nil {
		e.log.WarnContext(ctx, "removing task state", "task", id, "err", err)
	}
	if t.followed {
		t.mu.Lock()
		note := t.note
		t.mu.Unlock()
		if note != "" {
			os.Remove(note)
		}
	}
	return nil
}

// Recover does nothing for a task this Executor tracks. Any other task was
// started by an earlier instance. With ExitNotes it is followed again if it
// can be (see Recoverable). Else its exit status cannot be collected: if
// its process still runs it is killed with its group, so that it never runs
// twice, its state file is removed, and Recover returns an error wrapping
// executor.ErrNotRecoverable.
func (e *Executor) Recover(ctx context.Context, h *executor.Handle) error {
	if h == nil {
		return errors.New("recover: nil handle")
	}
	if e.tasks.Has(h.ID) {
		return nil
	}
	p, err := decodeHandle(h)
	if err != nil {
		return fmt.Errorf("recover %s: %w", h.ID, err)
	}
	if e.exitNotes != "" {
		t, err := e.follow(p)
		if err == nil {
			e.tasks.Put(h.ID, t, true)
			e.log.InfoContext(ctx, "following a task an earlier run left", "task", h.ID, "pid", p.PID)
			return nil
		}
		e.log.InfoContext(ctx, "cannot follow a task an earlier run left", "task", h.ID, "pid", p.PID, "err", err)
	}
	killed := e.killLeftover(ctx, p)
	if err := e.removeState(h.ID); err != nil {
		e.log.WarnContext(ctx, "removing task state", "task", h.ID, "err", err)
	}
	if killed {
		return fmt.Errorf("recover %s: killed process group %d of an earlier run: %w", h.ID, p.PID, executor.ErrNotRecoverable)
	}
	return fmt.Errorf("recover %s: process %d is gone: %w", h.ID, p.PID, executor.ErrNotRecoverable)
}
