package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/berth-run/berth/job"
)

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
//
// No history entry is written per task: each task's first transition (attempt
// 0, the initial state, at SubmittedAt) is derived from the job row, which
// keeps inserting large arrays fast.
func (s *Store) JobInsert(ctx context.Context, p *JobInsertParams) (int64, error) {
	if p.State != job.Queued && p.State != job.QueuedHeld {
		return 0, fmt.Errorf("inserting job: State %q must be Queued or QueuedHeld", p.State)
	}
	if p.SubmittedAt.IsZero() {
		return 0, errors.New("inserting job: SubmittedAt is required")
	}
	spec, err := json.Marshal(&p.Spec)
	if err != nil {
		return 0, fmt.Errorf("inserting job: encoding spec: %w", err)
	}
	var id int64
	err = s.write(Durable(ctx), func(tx *sql.Tx) error {
		var parent any
		if o := p.Spec.OpenJD; o != nil && o.Job != 0 {
			parent = o.Job
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO jobs
			(name, spec, pool, priority, task_count, init_state, init_kind, init_value, submitted_at, parent)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			p.Spec.Name, string(spec), p.Spec.Pool, p.Spec.Priority, p.Spec.TaskCount(),
			string(p.State), string(p.SubState.Kind), p.SubState.Value, nanos(p.SubmittedAt), parent).Scan(&id)
		if err != nil {
			return err
		}
		if err := insertLabels(ctx, tx, id, p.Spec.Labels); err != nil {
			return err
		}
		st, err := tx.PrepareContext(ctx, `INSERT INTO tasks (job_id, idx, state, sub_kind, sub_value, input) VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		state, kind, value := string(p.State), string(p.SubState.Kind), p.SubState.Value
		for i := range p.Spec.TaskIndexes {
			input := ""
			if len(p.Spec.Inputs) > 0 {
				input = p.Spec.Inputs[i-1]
			}
			if _, err = st.ExecContext(ctx, id, i, state, kind, value, input); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("inserting job: %w", err)
	}
	return id, nil
}

func insertLabels(ctx context.Context, tx *sql.Tx, id int64, labels map[string]string) error {
	for k, v := range labels {
		if _, err := tx.ExecContext(ctx, `INSERT INTO job_labels (job_id, key, value) VALUES (?, ?, ?)`, id, k, v); err != nil {
			return err
		}
	}
	return nil
}

// JobGet returns one job; job.ErrNotFound (wrapped) if there is none.
func (s *Store) JobGet(ctx context.Context, id int64) (*job.Job, error) {
	jobs, err := s.JobList(ctx, &JobListParams{IDs: []int64{id}, Limit: 1})
	if err != nil {
		return nil, err
	}
	if len(jobs) == 0 {
		return nil, errNoJob(id)
	}
	return jobs[0], nil
}

// JobDelete removes a job and its tasks with their history. It does not check
// states: the scheduler decides whether a job may go. The job standing for
// a whole OpenJD job goes with the last of its steps' jobs, and is refused
// (job.ErrInvalidState) while it has any.
func (s *Store) JobDelete(ctx context.Context, id int64) error {
	return s.write(Durable(ctx), func(tx *sql.Tx) error {
		if err := deleteJob(ctx, tx, id); err != nil {
			return fmt.Errorf("deleting job %d: %w", id, err)
		}
		return nil
	})
}

// MetaGet and MetaSet keep small server-wide values (server ID, ...).
func (s *Store) MetaGet(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("reading meta %q: %w", key, err)
	}
	return v, true, nil
}

// MetaSet sets a server-wide value.
func (s *Store) MetaSet(ctx context.Context, key, value string) error {
	return s.write(Durable(ctx), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		if err != nil {
			return fmt.Errorf("writing meta %q: %w", key, err)
		}
		return nil
	})
}

// JobsEndedBefore returns the IDs of up to limit jobs whose tasks have all
// ended before before, lowest first: those retention removes.
func (s *Store) JobsEndedBefore(ctx context.Context, before time.Time, limit int) ([]int64, error) {
	var ids []int64
	err := s.read(ctx, func(tx *sql.Tx) error {
		// Not the jobs with steps: they go with their last step's.
		rows, err := tx.QueryContext(ctx, `SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?
			AND task_count > 0 ORDER BY id LIMIT ?`, nanos(before), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("listing ended jobs: %w", err)
	}
	return ids, nil
}

// JobDeleteEnded deletes a job, as JobDelete does, only if all its tasks
// have ended; it reports whether it did.
func (s *Store) JobDeleteEnded(ctx context.Context, id int64) (bool, error) {
	deleted := false
	err := s.write(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM jobs WHERE id = ? AND finished_at IS NOT NULL`, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		if err := deleteJob(ctx, tx, id); err != nil {
			return err
		}
		deleted = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("deleting job %d: %w", id, err)
	}
	return deleted, nil
}
