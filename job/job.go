package job

import (
	"cmp"
	"net"
	"strconv"
	"time"
)

// Template says what to run. It is the DRMAA2 job template; fields that only
// one executor uses say so.
type Template struct {
	// Command is the program to run: a path, or a name looked up in PATH.
	Command string `json:"command"`
	// Args are the arguments after the command. In tasks of a job submitted
	// with Inputs, "{}" inside the command or an argument is replaced by the
	// task's input, shell-quoted in a shell's -c script (see WithInput).
	Args []string `json:"args,omitempty"`
	// Env is added to the environment the job starts with.
	Env map[string]string `json:"env,omitempty"`
	// WorkDir is the working directory. Defaults to the job's directory in
	// the data directory (berth run sets it to where it is run).
	WorkDir string `json:"workdir,omitempty"`
	// Image, when set, runs the job in a container of that image (the DRMAA2
	// job category). Empty runs it as an OS process.
	Image string `json:"image,omitempty"`
	// TimeLimit is the wall-clock limit; past it the job is terminated and
	// fails with sub-state TIME_LIMIT. Zero means none.
	TimeLimit Duration `json:"time_limit,omitempty"`
	// StopGrace is the time between SIGTERM and SIGKILL when the job is
	// stopped (by a user or its time limit). Zero means the server's
	// (berth serve --stop-grace, 10s unless set).
	StopGrace Duration `json:"stop_grace,omitempty"`
	// Rerunnable marks a job that may be run again: after a failure (up to
	// MaxAttempts) and after its worker was lost.
	Rerunnable bool `json:"rerunnable,omitempty"`
	// MaxAttempts bounds the runs of a rerunnable job. Defaults to
	// MaxAttemptsDefault.
	MaxAttempts int `json:"max_attempts,omitempty"`
	// RetryDelay is how long a rerunnable job waits after its first failed
	// attempt before it runs again; the wait doubles with each failed
	// attempt, up to RetryDelayMax, and is jittered (see RetryWait).
	// Defaults to RetryDelayDefault for a rerunnable job.
	RetryDelay Duration `json:"retry_delay,omitempty"`
	// RetryDelayMax caps the wait between attempts. Defaults to
	// RetryDelayMaxDefault, or RetryDelay if that is longer.
	RetryDelayMax Duration `json:"retry_delay_max,omitempty"`
	// OutputPath and ErrorPath, when set, are files on the worker's host
	// that receive a copy of stdout and of stderr when the task ends (Done
	// or Failed); absolute paths. The same path for both receives stdout,
	// then stderr. berth keeps its own copy either way.
	OutputPath string `json:"output_path,omitempty"`
	ErrorPath  string `json:"error_path,omitempty"`
	// StageIn lists files and directories of the worker's host that a
	// container job sees at their Container paths (bind mounts, read-only
	// unless RW). A process job runs on the host and reads the Host paths
	// themselves: nothing is mounted or copied for it.
	StageIn []Mount `json:"stage_in,omitempty"`
	// StageOut lists files and directories copied from a container job's
	// Container paths to the Host paths once the container has stopped for
	// good (whether the job is Done or Failed), before it is removed. A
	// process job writes the host directly: nothing is copied for it.
	StageOut []Mount `json:"stage_out,omitempty"`
	// Extensions holds executor-specific settings as key=value: for a
	// container job the container extensions (see ContainerExtensions and
	// docs/docker.md); a process job takes none.
	Extensions map[string]string `json:"extensions,omitempty"`
}

// Mount pairs an absolute path on the worker's host with an absolute path
// in a job's container.
type Mount struct {
	Host      string `json:"host"`
	Container string `json:"container"`
	// RW makes a stage-in mount writable; they are read-only by default.
	// Stage-out takes no RW.
	RW bool `json:"rw,omitempty"`
}

// MaxAttemptsDefault is the number of runs a rerunnable job gets when its
// template does not say.
const MaxAttemptsDefault = 3

// Defaults and bounds of the waits between attempts.
const (
	RetryDelayDefault    = Duration(time.Second)
	RetryDelayMaxDefault = Duration(5 * time.Minute)
	// MaxRetryDelay bounds both RetryDelay and RetryDelayMax.
	MaxRetryDelay = Duration(24 * time.Hour)
)

// RetryWait returns how long a task waits before its next attempt after
// attempt failed (from 1): RetryDelay doubled for each attempt after the
// first, at most RetryDelayMax, of which a random part up to half is taken
// off ("equal jitter": tasks that failed together do not all come back
// together, and each wait is still at least half the last one's bound).
// rnd returns a number in [0, 1).
func (t *Template) RetryWait(attempt int, rnd func() float64) time.Duration {
	base := cmp.Or(t.RetryDelay, RetryDelayDefault).Std()
	limit := max(cmp.Or(t.RetryDelayMax, RetryDelayMaxDefault).Std(), base)
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d - time.Duration(rnd()*float64(d/2))
}

// Array makes a job an array of tasks, one for each index from Begin to End
// (inclusive) in steps of Step.
type Array struct {
	Begin int `json:"begin"`
	End   int `json:"end"`
	Step  int `json:"step"`
}

// Spec is a submission: a template and how to schedule it.
type Spec struct {
	Name     string   `json:"name,omitempty"`
	Template Template `json:"template"`
	// Array, when set, makes this an array job.
	Array *Array `json:"array,omitempty"`
	// Inputs, when set, makes this an array job with one task per input,
	// indexed from 1; the task's input replaces "{}" in its command and
	// arguments and is in $BERTH_INPUT. Array and Inputs exclude each other.
	Inputs []string `json:"inputs,omitempty"`
	// MaxParallel bounds how many tasks of the array run at once; 0 means no bound.
	MaxParallel int `json:"max_parallel,omitempty"`
	// Hold submits the job held: it waits until released.
	Hold bool `json:"hold,omitempty"`
	// After lists jobs that must be Done before this one starts. If one fails,
	// this one fails with sub-state DEPENDENCY.
	After []int64 `json:"after,omitempty"`
	// Labels are free key=value pairs to find jobs by.
	Labels map[string]string `json:"labels,omitempty"`
	// Priority orders the queue: higher first, FIFO within a priority.
	Priority int `json:"priority,omitempty"`
	// Pool names the pool of workers to run on. Defaults to PoolDefault.
	Pool string `json:"pool,omitempty"`
	// Constraints are labels a worker must have, with these values, to run
	// the job's tasks.
	Constraints map[string]string `json:"constraints,omitempty"`
	// SubmitDir is where the job was submitted from (berth run sets it). A
	// process task whose template names no WorkDir runs there if that
	// directory exists on its worker's host, else in its task directory.
	SubmitDir string `json:"submit_dir,omitempty"`
	// OpenJD, when set, makes the job a step of an Open Job Description
	// job (POST /v1/openjd/jobs); its Template then names no command.
	OpenJD *OpenJDStep `json:"openjd,omitempty"`
	// Owner is the user who submitted the job (DRMAA2's jobOwner), set by
	// the server, never by the submitter: the user of the process at the
	// other end of the unix socket, or "token" on TCP, where the bearer of
	// the token is all the server knows.
	Owner string `json:"owner,omitempty"`
}

// Matches reports whether a worker with these labels may run the job.
func (s *Spec) Matches(labels map[string]string) bool {
	for k, v := range s.Constraints {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// PoolDefault is the pool jobs go to when they name none.
const PoolDefault = "default"

// Job is a submitted job as the server reports it.
type Job struct {
	ID int64 `json:"id"`
	Spec
	// State is the job's state: for an array, the state that best sums up its
	// tasks (see Summarize).
	State    State    `json:"state"`
	SubState SubState `json:"substate,omitzero"`
	// Tasks counts the job's tasks by state.
	Tasks       map[State]int `json:"tasks"`
	TaskCount   int           `json:"task_count"`
	SubmittedAt time.Time     `json:"submitted_at"`
	FinishedAt  *time.Time    `json:"finished_at,omitempty"`
	// HasMoreData reports whether some task has output or results that
	// receive has not yet returned.
	HasMoreData bool `json:"has_more_data"`
	// Waiting, for a queued job, says why none of its tasks can start: no
	// live worker of its pool, or none with its constraints ("no worker
	// with zone=c"). Empty otherwise.
	Waiting string `json:"waiting,omitempty"`
	// Steps, on the job standing for a whole OpenJD job, are the jobs of
	// its steps in submission order. Such a job has no tasks of its own:
	// its Tasks, TaskCount, State, FinishedAt and HasMoreData sum up its
	// steps'.
	Steps []int64 `json:"steps,omitempty"`
}

// HasSteps reports whether the job stands for a whole OpenJD job, whose
// work is done by the jobs of its steps.
func (j *Job) HasSteps() bool { return j.OpenJD != nil && j.OpenJD.Step == "" }

// IsArray reports whether the job is an array job.
func (s *Spec) IsArray() bool { return s.Array != nil || len(s.Inputs) > 0 }

// Task is one run unit of a job: the only one of a plain job (index 0) or one
// index of an array.
type Task struct {
	JobID    int64    `json:"job_id"`
	Index    int      `json:"index"`
	Name     string   `json:"name,omitempty"`
	State    State    `json:"state"`
	SubState SubState `json:"substate,omitzero"`
	Info
}

// Ref returns the task's address.
func (t *Task) Ref() Ref { return Ref{Job: t.JobID, Index: t.Index, HasIndex: t.Index != 0} }

// OutputIncomplete starts the part of a task's Message that says its stdout
// or stderr could not all be written to its file (a full disk), and why.
const OutputIncomplete = "output incomplete: "

// Info is what berth knows about a task's latest run.
type Info struct {
	// Attempt counts the runs started, from 1; 0 before the first.
	Attempt int `json:"attempt"`
	// Input is the task's input, for jobs submitted with inputs.
	Input string `json:"input,omitempty"`
	// Worker and Host say where it ran.
	Worker string `json:"worker,omitempty"`
	Host   string `json:"host,omitempty"`
	// PID is the process (group) ID of a process job; ContainerID that of a container job.
	PID         int    `json:"pid,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
	// Hostname is a container task's host name inside it; Ports the ports
	// it published, with the host ports the engine bound.
	Hostname string          `json:"hostname,omitempty"`
	Ports    []PublishedPort `json:"ports,omitempty"`
	// Session names the OpenJD session that ran the task: the worker, its
	// slot and the session's number there.
	Session string `json:"session,omitempty"`
	// ExitCode is set once the process exited; Signal names the signal that
	// ended it, if one did.
	ExitCode *int   `json:"exit_code,omitempty"`
	Signal   string `json:"signal,omitempty"`
	// Message is a human-readable note on the last state change (a start
	// error, why it was lost). It holds OutputIncomplete when the output
	// files could not all be written.
	Message     string     `json:"message,omitempty"`
	SubmittedAt time.Time  `json:"submitted_at"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	// CPUTime is user plus system CPU time; MaxRSS the peak resident set in bytes.
	CPUTime Duration `json:"cpu_time,omitempty"`
	MaxRSS  int64    `json:"max_rss,omitempty"`
	// RetryAt, for a task Requeued to run again after a failed attempt
	// (sub-state RETRYING), is when its next attempt is due.
	RetryAt *time.Time `json:"retry_at,omitempty"`
	// Stdout and Stderr are the paths of the task's output files on the server.
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
}

// PublishedPort is a container port and where on the host the engine
// published it (an "exposedPorts" entry as bound: a port the engine picked
// is here).
type PublishedPort struct {
	Port     uint16 `json:"port"`
	Proto    string `json:"proto"`
	HostIP   string `json:"host_ip"`
	HostPort uint16 `json:"host_port"`
}

// String formats p as docker port does: 80/tcp -> 0.0.0.0:32768.
func (p PublishedPort) String() string {
	return strconv.Itoa(int(p.Port)) + "/" + p.Proto + " -> " + net.JoinHostPort(p.HostIP, strconv.Itoa(int(p.HostPort)))
}

// Duration returns how long the latest run took, or ran so far as of now.
func (i *Info) Duration(now time.Time) time.Duration {
	if i.StartedAt == nil {
		return 0
	}
	end := now
	if i.FinishedAt != nil {
		end = *i.FinishedAt
	}
	return end.Sub(*i.StartedAt)
}

// Summarize gives the state that sums up tasks counted by state: Failed if
// any failed and all ended, Done if all are done, else the most advanced
// live state (Suspended, Running, Requeued, Queued, then held ones).
func Summarize(counts map[State]int) State {
	total, ended := 0, 0
	for s, n := range counts {
		total += n
		if s.Terminal() {
			ended += n
		}
	}
	switch {
	case total == 0:
		return Undetermined
	case ended == total && counts[Failed] > 0:
		return Failed
	case ended == total:
		return Done
	}
	for _, s := range []State{Running, Suspended, Requeued, Queued, RequeuedHeld, QueuedHeld} {
		if counts[s] > 0 {
			return s
		}
	}
	return Undetermined
}
