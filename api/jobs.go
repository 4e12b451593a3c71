package api

import (
	"encoding/json"
	"time"

	"github.com/berth-run/berth/job"
)

// JobPage is a page of GET /v1/jobs.
type JobPage struct {
	Jobs []*job.Job `json:"jobs"`
	// NextAfterID is the after_id of the next page; 0 on the last one.
	NextAfterID int64 `json:"next_after_id"`
}

// TaskPage is a page of GET /v1/jobs/{id}/tasks.
type TaskPage struct {
	Tasks []*job.Task `json:"tasks"`
	// NextAfterIndex is the after_index of the next page; -1 on the last
	// one.
	NextAfterIndex int `json:"next_after_index"`
}

// Transition is one state change in a task's history.
type Transition struct {
	Attempt  int          `json:"attempt"`
	State    job.State    `json:"state"`
	SubState job.SubState `json:"substate,omitzero"`
	Time     time.Time    `json:"time"`
	// Message is the task's message when it failed, or when an attempt
	// failed and the task was requeued to retry it: a start error, why it
	// was lost. RetryAt is, for the latter, when the next attempt was due.
	Message string     `json:"message,omitempty"`
	RetryAt *time.Time `json:"retry_at,omitempty"`
}

// TaskDetail is a task with its history (GET /v1/tasks/{ref}): the
// submission, then the last state changes.
type TaskDetail struct {
	job.Task
	History []Transition `json:"history"`
}

// Changed is the answer of an action (POST /v1/jobs/{ref}/{action}): how
// many tasks it changed.
type Changed struct {
	Changed int `json:"changed"`
}

// Results is the answer of GET /v1/tasks/{ref}/results: the JSON values
// the task wrote to $BERTH_RESULT.
type Results struct {
	Results []json.RawMessage `json:"results"`
}

// WaitResult is the answer of GET /v1/wait.
type WaitResult struct {
	// Jobs are the awaited jobs, in the order asked.
	Jobs     []*job.Job `json:"jobs"`
	TimedOut bool       `json:"timed_out"`
}
