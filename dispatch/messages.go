package dispatch

import (
	"time"

	"github.com/berth-run/berth/job"
)

// Subjects and streams. Every subject starts with the prefix "berth." so one
// NATS account can be shared with other users. What workers send travels on
// subjects of their own (identity.go).
//
//	berth.work.<pool>          JetStream stream BERTH_WORK (work-queue retention): Work, its key only
//	berth.w.<worker>.claim     request/reply, worker → server: Claim → ClaimReply (with the Work)
//	berth.w.<worker>.event     request/reply, worker → server: Event → EventReply
//	berth.w.<worker>.hb        request/reply, worker → server: Heartbeat → HeartbeatReply (every HeartbeatInterval)
//	berth.w.<worker>.output    request/reply, remote worker → server: Output → OutputReply
//	berth.control.<worker>     request/reply, server → worker: Control → ControlReply
//
// The server is the only writer of job state. A worker that pulled Work must
// Claim it before it starts it; the server grants a claim once per attempt,
// so duplicate or stale deliveries never run a task twice at once, and only
// the granted worker gets the task's template and environment, in the claim's
// reply on its own inbox. The worker acks the Work message after the server
// replied to the task's "ended" Event, which it does only once the end is
// committed to its store.
const (
	StreamWork        = "BERTH_WORK"
	SubjectWorkPrefix = "berth.work."
	SubjectControlFmt = "berth.control.%s"
)

// Leases. A worker holds its tasks under a lease that each answered
// heartbeat renews for LeasePeriod, counted from when the heartbeat was
// sent. A worker whose lease lapses stops its tasks itself (SIGTERM, then
// SIGKILL after FenceGrace), and its watchdog kills what is left at
// LeasePeriod+FenceGrace. The server takes the tasks of a worker unheard of
// for WorkerTimeout as lost; it is longer than both by LeaseMargin, so the
// old attempt is dead before another starts. Only the rates of the clocks
// matter (each side measures its own intervals), not their values.
const (
	HeartbeatInterval = 2 * time.Second
	LeasePeriod       = 10 * time.Second
	FenceGrace        = 3 * time.Second
	LeaseMargin       = 2 * time.Second
	WorkerTimeout     = LeasePeriod + FenceGrace + LeaseMargin
)

// SubjectWork returns the work subject of a pool.
func SubjectWork(pool string) string { return SubjectWorkPrefix + pool }

// TaskKey names one attempt of one task.
type TaskKey struct {
	Job     int64 `json:"job"`
	Index   int   `json:"index"`
	Attempt int   `json:"attempt"`
}

// Work is a task to run. On the work stream it carries only TaskKey and
// Pool: the rest comes in the ClaimReply, to the worker granted the claim.
type Work struct {
	TaskKey
	// Pool is the pool the task runs in; it picks the subject the work is
	// published on. Defaults to job.PoolDefault.
	Pool string `json:"pool,omitempty"`
	Name string `json:"name,omitempty"`
	// Template is the task's template with "{}" already replaced by its input.
	Template job.Template `json:"template"`
	Input    string       `json:"input,omitempty"`
	// Env holds the variables berth sets for the task (BERTH_JOB_ID, ...),
	// before the template's own.
	Env map[string]string `json:"env,omitempty"`
	// Dir is the task's directory on the server and its default working
	// directory. A worker on the server's host writes there directly.
	Dir string `json:"dir"`
	// Stdout, Stderr, Result and Times name the task's files; empty, they
	// are "stdout", "stderr", "result.jsonl" and "times" in Dir.
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	Result string `json:"result,omitempty"`
	Times  string `json:"times,omitempty"`
	// SubmitDir is the job's job.Spec.SubmitDir.
	SubmitDir string `json:"submit_dir,omitempty"`
	// OpenJD, for a task of an OpenJD step, says which; Template is then
	// empty and the task runs in a session of its step.
	OpenJD *OpenJDWork `json:"openjd,omitempty"`
	// Position is the task's 0-based position in its step's parameter
	// space (OpenJD tasks).
	Position int64 `json:"position,omitempty"`
}

// Claim asks the server for the right to start an attempt.
type Claim struct {
	TaskKey
	Worker string `json:"worker"`
	Host   string `json:"host"`
	// Labels are the worker's, for the job's constraints.
	Labels map[string]string `json:"labels,omitempty"`
}

// ClaimReply grants or refuses a claim.
type ClaimReply struct {
	OK bool `json:"ok"`
	// Work is the attempt to run, with its template and environment, when
	// the claim is granted. Only the granted worker ever sees them.
	Work *Work `json:"work,omitempty"`
	// Reason says why a claim was refused (task canceled, already claimed...).
	Reason string `json:"reason,omitempty"`
	// Elsewhere, with a refusal, says the work is fine but not for this
	// worker (its labels miss the job's constraints): hand it back for
	// another worker instead of dropping it.
	Elsewhere bool `json:"elsewhere,omitempty"`
}

// EventKind is what happened to a task.
type EventKind string

// The event kinds.
const (
	EventStarted   EventKind = "started"
	EventSuspended EventKind = "suspended"
	EventResumed   EventKind = "resumed"
	EventEnded     EventKind = "ended"
	// EventReleased gives back an attempt handed over in an EventReply
	// that the worker did not start (it is shutting down).
	EventReleased EventKind = "released"
	// EventRequeued says the executor restarts the attempt where it ran
	// (a container's restart policy): Requeued, sub-state RESTARTING, the
	// attempt keeps its worker. EventRunning says it runs again.
	EventRequeued EventKind = "requeued"
	EventRunning  EventKind = "running"
)

// Event reports a change of a claimed task.
type Event struct {
	TaskKey
	Worker string    `json:"worker"`
	Kind   EventKind `json:"kind"`
	Time   time.Time `json:"time"`
	// PID is set on started events of process tasks; ContainerID on
	// container tasks (and OpenJD sessions in a container); Session on
	// OpenJD tasks.
	PID         int    `json:"pid,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
	Session     string `json:"session,omitempty"`
	// Hostname and Ports, on started events of container tasks, are the
	// container's host name and published ports.
	Hostname string              `json:"hostname,omitempty"`
	Ports    []job.PublishedPort `json:"ports,omitempty"`
	// End is set on ended events.
	End *End `json:"end,omitempty"`
	// Restarts is the restarts so far, on requeued and running events.
	Restarts int `json:"restarts,omitempty"`
	// Next, on an ended event, says the worker's slot is free for another
	// task of its pool: the server may hand one over in the reply, already
	// claimed for this worker. This saves the round trips of a pull and a
	// claim when work is waiting.
	Next bool `json:"next,omitempty"`
	// Stay, with Next, asks first for another task of the same job: an
	// OpenJD session that would serve more tasks of its step.
	Stay bool `json:"stay,omitempty"`
}

// End is how a task's attempt ended.
type End struct {
	// State is Done or Failed.
	State    job.State    `json:"state"`
	SubState job.SubState `json:"substate"`
	ExitCode *int         `json:"exit_code,omitempty"`
	Signal   string       `json:"signal,omitempty"`
	CPUTime  job.Duration `json:"cpu_time,omitempty"`
	MaxRSS   int64        `json:"max_rss,omitempty"`
	Message  string       `json:"message,omitempty"`
}

// EventResult is what the server's handler makes of one event: the work it
// hands over, or why the event was not recorded.
type EventResult struct {
	Next *Work
	Err  error
}

// EventReply acknowledges an event once the server has recorded it.
type EventReply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Refused says the event will never be recorded (its sender does not
	// hold the task): sending it again is pointless.
	Refused bool `json:"refused,omitempty"`
	// Next is work handed over to the worker, claimed for it, in answer to
	// an ended event with Next set. A repeated event gets the same Next.
	Next *Work `json:"next,omitempty"`
}

// HeartbeatReply renews a worker's lease on the tasks it holds.
type HeartbeatReply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Lease is how long from the heartbeat's sending the worker may keep
	// running the tasks the server grants it.
	Lease job.Duration `json:"lease"`
	// Drop lists attempts the heartbeat named that the server does not
	// grant this worker (any more): the worker stops them at once and
	// reports nothing of them.
	Drop []TaskKey `json:"drop,omitempty"`
}

// Heartbeat says a worker is alive and what it runs.
type Heartbeat struct {
	Worker  string            `json:"worker"`
	Host    string            `json:"host"`
	Pool    string            `json:"pool"`
	Slots   int               `json:"slots"`
	Labels  map[string]string `json:"labels,omitempty"`
	Version string            `json:"version"`
	// Running lists the attempts the worker holds: running, or ended but
	// whose end the server has not yet acknowledged.
	Running []TaskKey `json:"running"`
	Time    time.Time `json:"time"`
}

// Control asks a worker to act on an attempt it holds.
type Control struct {
	TaskKey
	Action job.Action `json:"action"`
	// Grace is the time between SIGTERM and SIGKILL for terminate.
	// Defaults to the worker's stop grace (10s unless configured).
	Grace job.Duration `json:"grace,omitempty"`
	// Kill, for terminate, sends SIGKILL at once: no grace.
	Kill bool `json:"kill,omitempty"`
	// Signal, for terminate, is sent first instead of SIGTERM (a name of
	// job.StopSignals).
	Signal string `json:"signal,omitempty"`
	// Reason is recorded as the sub-state of a terminated task
	// (CANCELED, TIME_LIMIT). Without one, the end says how the task
	// exited (SIGNAL SIGTERM, say).
	Reason job.Reason `json:"reason,omitempty"`
}

// ControlReply answers a Control.
type ControlReply struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}
