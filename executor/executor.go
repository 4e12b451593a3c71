// Package executor defines how berth runs one task on one host. Executors
// (executor/process, executor/docker) are usable on their own as a Go
// library, like a DRMAA2 job tracker: start, wait, control, inspect and
// remove tasks.
//
// The shape follows Nomad's task-driver interface: tasks are keyed by an ID
// the caller chooses; Start returns a Handle whose opaque, versioned state
// the caller may persist and hand back to Recover after a restart. Every
// executor implements Executor; the abilities not all have (following tasks
// again after a restart, cleaning up what an earlier instance left, running
// further commands in a task, state changes of their own) are the small
// interfaces in abilities.go, which callers test for with a type assertion.
// An executor that passes tasks on to others (executor/mux) implements them
// all and returns ErrNotSupported where the task's executor lacks one.
//
// A container task is described by Spec.Container, a typed ContainerSpec;
// ContainerOf makes one from a job template, in one place for every caller.
package executor

import (
	"context"
	"errors"
	"time"

	"github.com/berth-run/berth/job"
)

// Spec is one run of one task.
type Spec struct {
	// ID identifies the run; unique among the executor's live tasks.
	ID string
	// Command and Args are the argv; never passed through a shell. For a
	// container task an empty Command runs the image's command.
	Command string
	Args    []string
	// Env is the complete environment as KEY=VALUE (for a container, on
	// top of the image's).
	Env []string
	// WorkDir is the working directory: for a process task a host
	// directory, which must exist; for a container task a path inside the
	// container (created by the engine if missing), empty for the image's.
	WorkDir string
	// Stdout and Stderr are files the task's output goes to; created if
	// missing, truncated if present.
	Stdout string
	Stderr string
	// Times, when set, is the file that records when the output arrived
	// (see internal/timeline); created with the output, truncated if
	// present.
	Times string
	// OutputPath and ErrorPath, when set, get copies of the Stdout and
	// Stderr files once the task has ended (a job's output and error
	// paths); when both name one file it gets stdout, then stderr.
	OutputPath string
	ErrorPath  string
	// Container, when set, runs the task in a container; executors that
	// run no containers ignore it (executor/mux routes by it).
	Container *ContainerSpec
}

// Exit is how a task, or a command run in it (Execer), ended.
type Exit struct {
	// ExitCode is the exit status, or -1 if a signal ended the task.
	ExitCode int
	// Signal names the signal that ended it ("SIGKILL"), if one did.
	Signal string
	// OOMKilled reports an out-of-memory kill, where the executor can tell.
	OOMKilled bool
	// CPUTime is user plus system time; MaxRSS peak resident memory in bytes.
	CPUTime  time.Duration
	MaxRSS   int64
	Finished time.Time
	// Err is set when the executor lost track of the task and the fields
	// above are unknown.
	Err error
	// Restarts counts the times the executor restarted the task where it
	// ran (a container's restart policy) before this, its final exit.
	Restarts int
	// CopyErr is set when the task ended but files it should have left on
	// the host (stage-out files, output and error paths) could not all be
	// copied there; the fields above still say how the task ended.
	CopyErr error
	// OutputErr is set when the task's stdout or stderr could not all be
	// written to its file (a full disk): the file holds only part of it.
	// The fields above still say how the task ended.
	OutputErr error
}

// Status is a task's state as the executor sees it now.
type Status struct {
	// State is Running, Suspended, Done or Failed; Requeued while the
	// executor restarts the task where it ran (a container's restart
	// policy).
	State job.State
	Exit  *Exit // set once ended
	// Restarts counts the restarts so far.
	Restarts int
}

// Executor runs tasks on this host.
type Executor interface {
	// Start starts a task and returns once it runs (or failed to start).
	Start(ctx context.Context, s *Spec) (*Handle, error)
	// Wait returns a channel that receives the task's exit once, then closes.
	Wait(ctx context.Context, id string) (<-chan *Exit, error)
	// Suspend stops the task's progress; it returns once the task is really
	// suspended. Resume undoes it.
	Suspend(ctx context.Context, id string) error
	Resume(ctx context.Context, id string) error
	// Stop asks the task to end (SIGTERM or the like) and kills it after
	// grace. It returns once the request is delivered, not when the task ends.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Inspect returns the task's status.
	Inspect(ctx context.Context, id string) (*Status, error)
	// Destroy forgets an ended task and frees what the executor holds for it;
	// with force it kills a live one first.
	Destroy(ctx context.Context, id string, force bool) error
}

// Errors executors return (wrapped).
var (
	ErrNotFound       = errors.New("no such task")
	ErrNotRunning     = errors.New("task is not running")
	ErrNotRecoverable = errors.New("task cannot be recovered")
	ErrStartFailed    = errors.New("task could not start")
	// ErrNotSupported is returned for an ability (see abilities.go) the
	// task's executor does not have, by executors that pass tasks on.
	ErrNotSupported = errors.New("not supported by the task's executor")
	// ErrImageNotFound and ErrPullFailed say why a container task could
	// not start; they come wrapped together with ErrStartFailed.
	ErrImageNotFound = errors.New("IMAGE_NOT_FOUND")
	ErrPullFailed    = errors.New("PULL_FAILED")
)

// CommandNotFoundError is the start failure of a task whose command is not
// an executable file where it would run; it is an ErrStartFailed. A shell
// would exit 127.
type CommandNotFoundError struct{ Command string }

func (e *CommandNotFoundError) Error() string { return e.Command + ": command not found" }

// Is makes the error an ErrStartFailed.
func (e *CommandNotFoundError) Is(target error) bool { return target == ErrStartFailed }

// CommandNotFoundExit is the exit code a shell gives a command not found.
const CommandNotFoundExit = 127

// ExitChan is the channel an executor's Wait returns: it receives exited()
// once done is closed, or at once if exited already has the exit, then
// closes; it closes without a value if ctx ends first.
func ExitChan(ctx context.Context, done <-chan struct{}, exited func() *Exit) <-chan *Exit {
	ch := make(chan *Exit, 1)
	if x := exited(); x != nil {
		ch <- x
		close(ch)
		return ch
	}
	go func() {
		defer close(ch)
		select {
		case <-done:
			ch <- exited()
		case <-ctx.Done():
		}
	}()
	return ch
}
