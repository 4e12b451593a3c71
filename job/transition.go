package job

import "fmt"

// Cause is what moves a task from one state to another.
type Cause string

// The causes of state changes. Causes that act on an attempt on a worker
// (see Cause.OnAttempt) apply to a Requeued task only while its executor
// restarts it where it ran (Restarting); the others only to one waiting in
// the queue.
const (
	// CauseSubmit: a new task enters its first state (from Undetermined).
	CauseSubmit Cause = "submit"
	// CauseHold: a user holds a waiting task.
	CauseHold Cause = "hold"
	// CauseRelease: a user releases a held task.
	CauseRelease Cause = "release"
	// CauseStart: a worker is granted the task's next attempt.
	CauseStart Cause = "start"
	// CauseReturn: the worker gave back an attempt it did not start; the
	// attempt is not spent.
	CauseReturn Cause = "return"
	// CauseSuspend: the worker suspended the attempt.
	CauseSuspend Cause = "suspend"
	// CauseResume: the worker resumed the attempt.
	CauseResume Cause = "resume"
	// CauseRestart: the executor restarts the attempt where it ran (a
	// container's restart policy), or the restarted attempt runs again.
	CauseRestart Cause = "restart"
	// CauseEnd: the attempt ended, as its worker reported or because its
	// worker was lost.
	CauseEnd Cause = "end"
	// CauseRetry: the attempt failed and the task will be run again.
	CauseRetry Cause = "retry"
	// CauseCancel: a user stopped a task that was not running.
	CauseCancel Cause = "cancel"
	// CauseDependency: a job the task waits for failed (the task fails),
	// or ended (the task's WAITING sub-state changes).
	CauseDependency Cause = "dependency"
)

// Causes lists every cause.
var Causes = []Cause{
	CauseSubmit, CauseHold, CauseRelease, CauseStart, CauseReturn, CauseSuspend,
	CauseResume, CauseRestart, CauseEnd, CauseRetry, CauseCancel, CauseDependency,
}

// OnAttempt reports whether c acts on an attempt that is on a worker, rather
// than on a task that waits to be started.
func (c Cause) OnAttempt() bool {
	switch c {
	case CauseReturn, CauseSuspend, CauseResume, CauseRestart, CauseEnd, CauseRetry:
		return true
	}
	return false
}

// Transition is a change of a task's state that the state machine allows.
type Transition struct {
	From, To State
	Cause    Cause
}

// Transitions is the state machine of a task, after DRMAA2's: every change
// of a task's state, or of its sub-state within a state, is one of these.
// docs/architecture.md shows it as a table.
var Transitions = []Transition{
	{Undetermined, Queued, CauseSubmit},
	{Undetermined, QueuedHeld, CauseSubmit},

	{Queued, QueuedHeld, CauseHold},
	{Requeued, RequeuedHeld, CauseHold},
	{QueuedHeld, Queued, CauseRelease},
	{RequeuedHeld, Requeued, CauseRelease},

	{Queued, Running, CauseStart},
	{Requeued, Running, CauseStart},
	{Running, Queued, CauseReturn},
	{Running, Requeued, CauseReturn},

	{Running, Suspended, CauseSuspend},
	{Suspended, Running, CauseResume},

	{Running, Requeued, CauseRestart},
	{Requeued, Requeued, CauseRestart},
	{Requeued, Running, CauseRestart},

	{Running, Done, CauseEnd},
	{Running, Failed, CauseEnd},
	{Suspended, Done, CauseEnd},
	{Suspended, Failed, CauseEnd},
	{Requeued, Done, CauseEnd},
	{Requeued, Failed, CauseEnd},

	{Running, Requeued, CauseRetry},
	{Suspended, Requeued, CauseRetry},
	{Requeued, Requeued, CauseRetry},

	{Queued, Failed, CauseCancel},
	{QueuedHeld, Failed, CauseCancel},
	{Requeued, Failed, CauseCancel},
	{RequeuedHeld, Failed, CauseCancel},

	{Queued, Failed, CauseDependency},
	{QueuedHeld, Failed, CauseDependency},
	{Queued, Queued, CauseDependency},
}

// transitionSet indexes Transitions.
var transitionSet = func() map[Transition]bool {
	m := make(map[Transition]bool, len(Transitions))
	for _, t := range Transitions {
		m[t] = true
	}
	return m
}()

// CanTransition reports whether the state machine lets a task go from one
// state to another for cause c.
func CanTransition(from, to State, c Cause) bool {
	return transitionSet[Transition{from, to, c}]
}

// CheckTransition returns an error if the state machine does not let a task
// go from one state to another for cause c.
func CheckTransition(from, to State, c Cause) error {
	if CanTransition(from, to, c) {
		return nil
	}
	return fmt.Errorf("no transition from %s to %s on %s", from, to, c)
}
