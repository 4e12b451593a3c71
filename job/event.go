package job

import "time"

// Event is a change of a task's state, as the server streams it.
type Event struct {
	// Seq numbers events in the order the scheduler made them, per server run.
	Seq      uint64    `json:"seq"`
	Job      int64     `json:"job"`
	Index    int       `json:"index"`
	Attempt  int       `json:"attempt"`
	State    State     `json:"state"`
	SubState SubState  `json:"substate,omitzero"`
	ExitCode *int      `json:"exit_code,omitempty"`
	Time     time.Time `json:"time"`
	// JobState is the job's summarized state after the change; JobEnded
	// reports that every task of the job has ended.
	JobState State `json:"job_state"`
	JobEnded bool  `json:"job_ended,omitempty"`
	// Removed reports that the job was removed.
	Removed bool `json:"removed,omitempty"`
}
