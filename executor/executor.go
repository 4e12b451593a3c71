// Package executor defines how berth runs one task on one host. Executors
// (executor/process, later executor/docker) are usable on their own as a Go
// library, like a DRMAA2 job tracker: start, wait, control, inspect, remove,
// and recover after a restart.
//
// The shape follows Nomad's task-driver interface: tasks are keyed by an ID
// the caller chooses; Start returns a Handle whose state the caller persists
// and hands back to Recover after a restart of the caller.
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
	// Command and Args are the argv; never passed through a shell.
	Command string
	Args    []string
	// Env is the complete environment as KEY=VALUE.
	Env []string
	// WorkDir is the working directory; it must exist.
	WorkDir string
	// Stdout and Stderr are files the task's output goes to; created if
	// missing, truncated if present.
	Stdout string
	Stderr string
	// Template is the template the run came from, for executors that map
	// more of it (images, limits, extensions).
	Template job.Template
}

// Handle is what the caller keeps to find a task again after its own restart.
type Handle struct {
	ID     string `json:"id"`
	Driver string `json:"driver"`
	// PID is the process (and process group) ID, for process tasks.
	PID int `json:"pid,omitempty"`
	// StartTicks is the process start time from /proc/PID/stat, which tells
	// a recycled PID from the task's.
	StartTicks uint64 `json:"start_ticks,omitempty"`
	// StartSlack, when set, widens StartTicks to a range: the process
	// started between StartTicks and StartTicks+StartSlack.
	StartSlack uint64 `json:"start_slack,omitempty"`
	// ContainerID is the container, for container tasks.
	ContainerID string    `json:"container_id,omitempty"`
	StartedAt   time.Time `json:"started_at"`
}

// Exit is how a task ended.
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

// StateNotifier is an Executor whose tasks change state on their own, not
// only through the caller's Suspend and Resume: a container restarted by
// its restart policy is Requeued from its exit until it runs again.
type StateNotifier interface {
	// Changes returns a channel that receives, in order, each state a
	// task enters on its own (Requeued, then Running again), with the
	// restarts so far. It is closed once the task has ended, or when ctx
	// ends; its exit comes through Wait.
	Changes(ctx context.Context, id string) (<-chan Status, error)
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
	// Recover re-attaches to a task started by an earlier instance of the
	// caller. Calling it for a task already tracked does nothing. It returns
	// ErrNotRecoverable when the task cannot be followed any more (it may
	// then have been killed); the caller then treats the task as lost.
	Recover(ctx context.Context, h *Handle) error
}

// Errors executors return (wrapped).
var (
	ErrNotFound       = errors.New("no such task")
	ErrNotRunning     = errors.New("task is not running")
	ErrNotRecoverable = errors.New("task cannot be recovered")
	ErrStartFailed    = errors.New("task could not start")
	// ErrImageNotFound and ErrPullFailed say why a container task could
	// not start; they come wrapped together with ErrStartFailed.
	ErrImageNotFound = errors.New("IMAGE_NOT_FOUND")
	ErrPullFailed    = errors.New("PULL_FAILED")
)

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
