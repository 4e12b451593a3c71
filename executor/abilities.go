package executor

import (
	"context"
	"io"
	"time"
)

// The abilities an executor may have beyond Executor. Callers test for one
// with a type assertion; each implementation states it at compile time
// (var _ executor.Recoverer = (*Executor)(nil)).

// Recoverer is an Executor that can follow again the tasks an earlier
// instance of it started (after a restart of its caller).
type Recoverer interface {
	// Recover re-attaches to a task started by an earlier instance. Calling
	// it for a task already tracked does nothing. It returns an error
	// wrapping ErrNotRecoverable when the task cannot be followed any more
	// (it may then have been killed); the caller then treats it as lost.
	Recover(ctx context.Context, h *Handle) error
	// Recoverable returns the handles of the tasks an earlier instance left
	// that Recover can follow, and that this one does not track.
	Recoverable(ctx context.Context) ([]*Handle, error)
}

// Cleaner is an Executor that can find and end what an earlier instance
// left and no Recover took up.
type Cleaner interface {
	// Cleanup kills and removes those tasks and returns their handles, so
	// that the caller can report them lost. Tracked tasks are left alone.
	Cleanup(ctx context.Context) ([]*Handle, error)
}

// StateNotifier is an Executor whose tasks change state on their own, not
// only through the caller's Suspend and Resume: a container restarted by
// its restart policy is Requeued from its exit until it runs again; one
// paused or unpaused outside berth (docker pause) is Suspended or Running.
type StateNotifier interface {
	// Changes returns a channel that receives, in order, each state a
	// task enters on its own (Requeued, then Running again; Suspended,
	// then Running again), with the restarts so far. It is closed once the task has ended, or when ctx
	// ends; its exit comes through Wait.
	Changes(ctx context.Context, id string) (<-chan Status, error)
}

// Execer is an Executor that runs further commands inside a running task,
// with the task's file system, namespaces and limits: an OpenJD session
// runs each of its actions so in the session's container.
type Execer interface {
	// Exec runs c in task id and returns once it has ended, with its
	// ExitCode, or its Signal if one that berth sent ended it, and
	// Finished. If ctx ends first, the command (its process group) gets
	// SIGTERM, then SIGKILL after c.Grace (SIGKILL alone if negative); Exec then returns its exit
	// together with an error wrapping ctx.Err(). A command that could not
	// start (no such program or working directory) gives its exit and an
	// error wrapping ErrStartFailed; a task that is not running, an error
	// wrapping ErrNotRunning.
	Exec(ctx context.Context, id string, c *ExecSpec) (*Exit, error)
}

// ExecGraceDefault is the default of ExecSpec.Grace.
const ExecGraceDefault = 10 * time.Second

// ExecSpec is a command Execer runs in a task.
type ExecSpec struct {
	// Command and Args are the argv; never passed through a shell.
	Command string
	Args    []string
	// Env is set for the command on top of the task's environment, as
	// KEY=VALUE.
	Env []string
	// WorkDir is the working directory in the task's file system. Defaults
	// to the task's.
	WorkDir string
	// Stdout and Stderr receive the command's output (an *os.File for a
	// file). Defaults to discarding it.
	Stdout io.Writer
	Stderr io.Writer
	// Grace is how long the command has between SIGTERM and SIGKILL when
	// it is canceled; a negative Grace sends SIGKILL alone, at once (an
	// OpenJD TERMINATE). An executor reads it only once ctx has ended.
	// Defaults to ExecGraceDefault.
	Grace time.Duration
}

// Signaler is an Executor whose Stop can begin with another signal than
// SIGTERM (SIGINT, SIGQUIT...), for programs that end cleanly on those.
type Signaler interface {
	// StopSignal is Stop that sends sig (a name such as "SIGINT") first.
	StopSignal(ctx context.Context, id, sig string, grace time.Duration) error
}
