// Package store keeps berth's jobs in an embedded SQLite database (pure Go,
// WAL) in the data directory. It is the only package that speaks SQL.
//
// Every write is one transaction, so a crash at any instant leaves each job
// either wholly recorded or not at all. The scheduler is the only writer of
// job state; the server reads through the same Store.
package store

import (
	"context"
	"time"

	"github.com/berth-run/berth/job"
)

// Store is an open database. It is safe for concurrent use.
type Store struct {
	// implementation fields
}

// Config configures Open.
type Config struct {
	// Path is the database file. Required.
	Path string
	// Sync is the SQLite synchronous level: "normal" or "full". With WAL,
	// "normal" survives any crash of berth's process but may lose the last
	// commits to a power loss; "full" survives both. Defaults to "full".
	Sync string
}

// Open opens (creating if needed) the database and applies migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) { panic("unimplemented") }

// Close closes the database.
func (s *Store) Close() error { panic("unimplemented") }

// JobInsertParams is a job to record with all its tasks.
type JobInsertParams struct {
	Spec        job.Spec // with defaults already applied
	SubmittedAt time.Time
	// State and SubState are the initial state of every task: Queued or
	// QueuedHeld, with a sub-state such as HELD or WAITING.
	State    job.State
	SubState job.SubState
}

// JobInsert records a job and all its tasks in one transaction and returns
// the job's new ID. IDs are assigned in increasing order and never reused.
func (s *Store) JobInsert(ctx context.Context, p *JobInsertParams) (int64, error) {
	panic("unimplemented")
}

// TasksPut writes the given tasks whole (state, sub-state and Info, keyed by
// JobID and Index) in one transaction. For each task whose state, sub-state
// or attempt differs from the stored one it appends a row to the task's
// history, stamped at. A job whose tasks have all ended gets its FinishedAt
// set to at. Tasks of deleted jobs are ignored.
func (s *Store) TasksPut(ctx context.Context, tasks []*job.Task, at time.Time) error {
	panic("unimplemented")
}

// ActiveTask is an unended task with what the scheduler needs of its job.
type ActiveTask struct {
	Task job.Task
	Spec *job.Spec // shared by all tasks of the same job
}

// TasksActive calls fn for every task not in a terminal state, in job ID then
// index order, with one *job.Spec value per job. Used by the scheduler to
// rebuild its queue on start.
func (s *Store) TasksActive(ctx context.Context, fn func(*ActiveTask) error) error {
	panic("unimplemented")
}

// JobListParams filters JobList. Zero fields do not filter.
type JobListParams struct {
	States []job.State // jobs whose summarized state is one of these
	// NameGlob matches the job name with shell glob rules (*, ?, [...]).
	NameGlob string
	Labels   map[string]string // all must match
	Since    time.Time         // submitted at or after
	IDs      []int64
	// AfterID and Limit page through jobs in ID order. Limit defaults to 1000.
	AfterID int64
	Limit   int
}

// JobList returns jobs in ID order, with State, Tasks counts, TaskCount,
// FinishedAt and HasMoreData filled in.
func (s *Store) JobList(ctx context.Context, p *JobListParams) ([]*job.Job, error) {
	panic("unimplemented")
}

// JobGet returns one job; job.ErrNotFound (wrapped) if there is none.
func (s *Store) JobGet(ctx context.Context, id int64) (*job.Job, error) {
	panic("unimplemented")
}

// TaskListParams filters TaskList.
type TaskListParams struct {
	JobID  int64
	States []job.State
	// AfterIndex and Limit page through tasks in index order (AfterIndex is
	// exclusive; use -1 to start). Limit defaults to 1000.
	AfterIndex int
	Limit      int
}

// TaskList returns a job's tasks in index order.
func (s *Store) TaskList(ctx context.Context, p *TaskListParams) ([]*job.Task, error) {
	panic("unimplemented")
}

// TaskGet returns one task; job.ErrNotFound (wrapped) if there is none.
func (s *Store) TaskGet(ctx context.Context, jobID int64, index int) (*job.Task, error) {
	panic("unimplemented")
}

// Transition is one row of a task's state history.
type Transition struct {
	Attempt  int          `json:"attempt"`
	State    job.State    `json:"state"`
	SubState job.SubState `json:"substate,omitzero"`
	Time     time.Time    `json:"time"`
}

// TaskHistory returns a task's state changes, oldest first.
func (s *Store) TaskHistory(ctx context.Context, jobID int64, index int) ([]Transition, error) {
	panic("unimplemented")
}

// Offsets are how far receive has read a task's stdout, stderr and results
// (byte offsets into the files).
type Offsets struct {
	Stdout  int64 `json:"stdout"`
	Stderr  int64 `json:"stderr"`
	Results int64 `json:"results"`
}

// ReceiveOffsets returns a task's receive offsets (zero if never received).
func (s *Store) ReceiveOffsets(ctx context.Context, jobID int64, index int) (Offsets, error) {
	panic("unimplemented")
}

// ReceiveOffsetsSet records a task's receive offsets. A task whose offsets
// fall short of its file sizes HasMoreData; the caller passes the sizes it saw.
func (s *Store) ReceiveOffsetsSet(ctx context.Context, jobID int64, index int, o Offsets, sizes Offsets) error {
	panic("unimplemented")
}

// OutputSizesSet records the sizes of a task's output files when it ends, for
// HasMoreData.
func (s *Store) OutputSizesSet(ctx context.Context, jobID int64, index int, sizes Offsets) error {
	panic("unimplemented")
}

// JobDelete removes a job, its tasks and their history. It does not check
// states: the scheduler decides whether a job may go.
func (s *Store) JobDelete(ctx context.Context, id int64) error { panic("unimplemented") }

// MetaGet and MetaSet keep small server-wide values (server ID, ...).
func (s *Store) MetaGet(ctx context.Context, key string) (string, bool, error) {
	panic("unimplemented")
}

// MetaSet sets a server-wide value.
func (s *Store) MetaSet(ctx context.Context, key, value string) error { panic("unimplemented") }
