package job

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// State is a DRMAA2 job state.
type State string

// The DRMAA2 states.
const (
	Undetermined State = "Undetermined"
	Queued       State = "Queued"
	QueuedHeld   State = "QueuedHeld"
	Running      State = "Running"
	Suspended    State = "Suspended"
	Requeued     State = "Requeued"
	RequeuedHeld State = "RequeuedHeld"
	Done         State = "Done"
	Failed       State = "Failed"
)

// States lists every state, in the order DRMAA2 gives them.
var States = []State{Undetermined, Queued, QueuedHeld, Running, Suspended, Requeued, RequeuedHeld, Done, Failed}

// Terminal reports whether s is an end state: Done or Failed.
func (s State) Terminal() bool { return s == Done || s == Failed }

// Held reports whether s is a held state.
func (s State) Held() bool { return s == QueuedHeld || s == RequeuedHeld }

// Pending reports whether s waits to be started: queued or requeued, held or not.
func (s State) Pending() bool {
	return s == Queued || s == QueuedHeld || s == Requeued || s == RequeuedHeld
}

// Active reports whether s is a state in which a process exists: Running or Suspended.
func (s State) Active() bool { return s == Running || s == Suspended }

// ParseState parses a state name, case-insensitively.
func ParseState(s string) (State, error) {
	for _, st := range States {
		if strings.EqualFold(string(st), s) {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown state %q (want one of %s)", s, joinStates(States))
}

func joinStates(ss []State) string {
	var b strings.Builder
	for i, s := range ss {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(s))
	}
	return b.String()
}

// SubState says why a task is in its state. It is a kind and, for some
// kinds, a value: EXIT_CODE 3, SIGNAL SIGKILL.
type SubState struct {
	Kind  Reason `json:"kind"`
	Value string `json:"value,omitempty"`
}

// Reason is the kind of a SubState.
type Reason string

// The reasons berth records.
const (
	ReasonNone        Reason = ""
	ReasonExitCode    Reason = "EXIT_CODE"    // Value: the exit code
	ReasonSignal      Reason = "SIGNAL"       // Value: the signal name, e.g. SIGKILL
	ReasonTimeLimit   Reason = "TIME_LIMIT"   // the wall-clock limit stopped it
	ReasonCanceled    Reason = "CANCELED"     // a user stopped it
	ReasonDependency  Reason = "DEPENDENCY"   // Value: the job it depended on that failed
	ReasonLost        Reason = "LOST"         // its worker vanished while it ran
	ReasonStartFailed Reason = "START_FAILED" // the executor could not start it
	ReasonOOM         Reason = "OUT_OF_MEMORY"
	ReasonNoImage     Reason = "IMAGE_NOT_FOUND" // the image is not there and may not be pulled
	ReasonPullFailed  Reason = "PULL_FAILED"
	ReasonHeld        Reason = "HELD"     // submitted held or held by a user
	ReasonRetrying    Reason = "RETRYING" // Value: the attempt that failed
	ReasonDependsOn   Reason = "WAITING"  // Value: the jobs it still waits for
	ReasonShutdown    Reason = "SHUTDOWN" // stopped because its worker shut down
	// ReasonRestarting is the sub-state of a Requeued task whose container
	// its restart policy restarts where it ran; the attempt keeps its
	// worker. Value: the restarts so far.
	ReasonRestarting Reason = "RESTARTING"
	// ReasonStageOut: the task ended but its stage-out files, or its output
	// and error paths, could not all be copied to the host.
	ReasonStageOut Reason = "STAGE_OUT_FAILED"
)

// Restarting reports whether a task in state s with sub-state sub is being
// restarted where it ran (a container's restart policy): Requeued, but
// still held by its worker, not waiting in the queue.
func Restarting(s State, sub SubState) bool { return s == Requeued && sub.Kind == ReasonRestarting }

// String renders the sub-state as "KIND" or "KIND VALUE".
func (s SubState) String() string {
	if s.Value == "" {
		return string(s.Kind)
	}
	return string(s.Kind) + " " + s.Value
}

// IsZero reports whether no sub-state is set.
func (s SubState) IsZero() bool { return s.Kind == "" && s.Value == "" }

// ExitCode is the sub-state of a task that exited with code.
func ExitCode(code int) SubState { return SubState{ReasonExitCode, strconv.Itoa(code)} }

// Signal is the sub-state of a task ended by signal (a name such as "SIGKILL").
func Signal(name string) SubState { return SubState{ReasonSignal, name} }

// Action is a control action on a job or task.
type Action string

// The control actions.
const (
	Suspend   Action = "suspend"
	Resume    Action = "resume"
	Hold      Action = "hold"
	Release   Action = "release"
	Terminate Action = "terminate"
)

// Actions lists every action.
var Actions = []Action{Suspend, Resume, Hold, Release, Terminate}

// ParseAction parses an action name.
func ParseAction(s string) (Action, error) {
	for _, a := range Actions {
		if string(a) == s {
			return a, nil
		}
	}
	return "", fmt.Errorf("unknown action %q (want suspend, resume, hold, release or terminate)", s)
}

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("1m30s"); it also reads a number of seconds.
type Duration int64

// MarshalJSON writes the duration as a string such as "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := ParseDuration(s)
		if err != nil {
			return err
		}
		*d = v
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("want a duration such as \"30s\" or a number of seconds")
	}
	if secs < 0 || secs > maxDurationSeconds {
		return fmt.Errorf("duration %v seconds out of range", secs)
	}
	*d = Duration(secs * 1e9)
	return nil
}
