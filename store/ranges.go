package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/berth-run/berth/job"
)

// An array's tasks are recorded as ranges of indexes until each is first
// changed on its own (see migration 007): submitting, holding, releasing
// and stopping the part of an array not yet started then costs one row
// whatever its size. A task in a range has the state of the job's
// pend_state columns; it gets a row of its own, and leaves its range, the
// first time TasksPutWith writes it.

// Range is the indexes Lo, Lo+Step, ... Hi (Hi is one of them).
type Range struct {
	Lo, Hi, Step int
}

// Len returns the number of indexes in r.
func (r Range) Len() int { return (r.Hi-r.Lo)/r.Step + 1 }

// Contains reports whether i is one of r's indexes.
func (r Range) Contains(i int) bool {
	return i >= r.Lo && i <= r.Hi && (i-r.Lo)%r.Step == 0
}

// ArrayRange returns the indexes of an array job's tasks as one range.
func ArrayRange(spec *job.Spec) Range {
	if a := spec.Array; a != nil {
		return Range{Lo: a.Begin, Hi: a.Begin + (a.Len()-1)*a.Step, Step: a.Step}
	}
	return Range{Lo: 1, Hi: len(spec.Inputs), Step: 1}
}

// Pending is the part of an array job whose tasks have no row of their own.
type Pending struct {
	// State and SubState are those of every task in Ranges; At is when
	// they entered them.
	State    job.State
	SubState job.SubState
	At       time.Time
	Ranges   []Range // in index order
}

// Len returns the number of tasks in p.
func (p *Pending) Len() int {
	n := 0
	for _, r := range p.Ranges {
		n += r.Len()
	}
	return n
}

// RangePut sets the state of the tasks of a job that are still in its
// ranges, for TasksCommit. JobEnded says whether all of the job's tasks
// have ended with this write.
type RangePut struct {
	JobID    int64
	State    job.State
	SubState job.SubState
	JobEnded bool
}

// rangesPut writes the state of jobs' ranges.
func rangesPut(ctx context.Context, tx *sql.Tx, puts []RangePut, at time.Time) error {
	for _, p := range puts {
		q := `UPDATE jobs SET pend_state = ?, pend_kind = ?, pend_value = ?, pend_at = ?`
		args := []any{string(p.State), string(p.SubState.Kind), p.SubState.Value, nanos(at)}
		switch {
		case p.JobEnded:
			q += `, finished_at = coalesce(finished_at, ?)`
			args = append(args, nanos(at))
		case !p.State.Terminal():
			q += `, finished_at = NULL`
		}
		if _, err := tx.ExecContext(ctx, q+` WHERE id = ?`, append(args, p.JobID)...); err != nil {
			return fmt.Errorf("job %d: %w", p.JobID, err)
		}
		// An OpenJD job ends with the last of its steps' jobs.
		if err := parentFinished(ctx, tx, p.JobID, 0); err != nil {
			return fmt.Errorf("job %d: %w", p.JobID, err)
		}
	}
	return nil
}

// carve takes index idx out of its job's ranges and gives it a row of its
// own in the ranges' state, which it returns. It reports false when no
// range holds idx (its job was deleted).
func (s *Store) carve(ctx context.Context, tx *sql.Tx, jobID int64, idx int) (TaskPrev, bool, error) {
	var r Range
	err := tx.StmtContext(ctx, s.hot.rangeFind).QueryRowContext(ctx, jobID, idx).Scan(&r.Lo, &r.Hi, &r.Step)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !r.Contains(idx) {
		return TaskPrev{}, false, nil
	}
	if err != nil {
		return TaskPrev{}, false, err
	}
	if _, err := tx.StmtContext(ctx, s.hot.rangeDelete).ExecContext(ctx, jobID, r.Lo); err != nil {
		return TaskPrev{}, false, err
	}
	ins := tx.StmtContext(ctx, s.hot.rangeInsert)
	if idx > r.Lo {
		if _, err := ins.ExecContext(ctx, jobID, r.Lo, idx-r.Step, r.Step); err != nil {
			return TaskPrev{}, false, err
		}
	}
	if idx < r.Hi {
		if _, err := ins.ExecContext(ctx, jobID, idx+r.Step, r.Hi, r.Step); err != nil {
			return TaskPrev{}, false, err
		}
	}
	var prev TaskPrev
	err = tx.StmtContext(ctx, s.hot.taskCarve).QueryRowContext(ctx, jobID, idx, jobID).
		Scan(&prev.State, &prev.SubState.Kind, &prev.SubState.Value)
	if err != nil {
		return TaskPrev{}, false, err
	}
	return prev, true, nil
}

// SQL of the hot statements of carve.
const (
	sqlRangeFind   = `SELECT lo, hi, step FROM task_ranges WHERE job_id = ? AND lo <= ? ORDER BY lo DESC LIMIT 1`
	sqlRangeDelete = `DELETE FROM task_ranges WHERE job_id = ? AND lo = ?`
	sqlRangeInsert = `INSERT INTO task_ranges (job_id, lo, hi, step) VALUES (?, ?, ?, ?)`
	// The input of a task of an inputs array is written by the update
	// that follows, as every column.
	sqlTaskCarve = `INSERT INTO tasks (job_id, idx, state, sub_kind, sub_value)
		SELECT ?, ?, pend_state, pend_kind, pend_value FROM jobs WHERE id = ?
		RETURNING state, sub_kind, sub_value`
)

// jobPending reads a job's ranges and their state; nil if it has none.
func jobPending(ctx context.Context, tx *sql.Tx, jobID int64) (*Pending, error) {
	p := &Pending{}
	var at int64
	err := tx.QueryRowContext(ctx, `SELECT pend_state, pend_kind, pend_value, pend_at FROM jobs WHERE id = ?`, jobID).
		Scan(&p.State, &p.SubState.Kind, &p.SubState.Value, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoJob(jobID)
	}
	if err != nil || p.State == "" {
		return nil, err
	}
	p.At = fromNanos(at)
	rows, err := tx.QueryContext(ctx, `SELECT lo, hi, step FROM task_ranges WHERE job_id = ? ORDER BY lo`, jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var r Range
		if err := rows.Scan(&r.Lo, &r.Hi, &r.Step); err != nil {
			return nil, err
		}
		p.Ranges = append(p.Ranges, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(p.Ranges) == 0 {
		return nil, nil
	}
	return p, nil
}

// rangeTask returns the task of index idx as its job's ranges say, and
// when it entered its state, or nil if no range holds it.
func rangeTask(ctx context.Context, tx *sql.Tx, jobID int64, idx int) (*job.Task, time.Time, error) {
	var r Range
	err := tx.QueryRowContext(ctx, sqlRangeFind, jobID, idx).Scan(&r.Lo, &r.Hi, &r.Step)
	if errors.Is(err, sql.ErrNoRows) || err == nil && !r.Contains(idx) {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, err
	}
	t := &job.Task{JobID: jobID, Index: idx}
	var submitted, at int64
	var input sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT name, pend_state, pend_kind, pend_value, pend_at, submitted_at,
		json_extract(spec, '$.inputs[' || ? || ']') FROM jobs WHERE id = ?`, idx-1, jobID).
		Scan(&t.Name, &t.State, &t.SubState.Kind, &t.SubState.Value, &at, &submitted, &input)
	if err != nil {
		return nil, time.Time{}, err
	}
	rangeInfo(t, fromNanos(submitted), fromNanos(at), input.String)
	return t, fromNanos(at), nil
}

// rangeInfo fills in what is known of a task in a range.
func rangeInfo(t *job.Task, submitted, at time.Time, input string) {
	t.SubmittedAt, t.Input = submitted, input
	if t.State.Terminal() {
		t.FinishedAt = &at
	}
}
