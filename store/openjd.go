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

// OpenJDInsert records an OpenJD job's templates and values, and the job
// that stands for the whole OpenJD job: spec, with no tasks of its own,
// whose OpenJD.Submission it sets. The jobs of the steps, inserted after,
// name both (job.OpenJDStep's Submission and Job). It returns the
// submission's ID and the job's.
func (s *Store) OpenJDInsert(ctx context.Context, sub *job.OpenJDJob, spec job.Spec, at time.Time) (subID, jobID int64, err error) {
	data, err := json.Marshal(sub)
	if err != nil {
		return 0, 0, fmt.Errorf("recording OpenJD job: %w", err)
	}
	err = s.write(Durable(ctx), func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `INSERT INTO openjd_submissions (data, created_at) VALUES (?, ?) RETURNING id`,
			string(data), nanos(at)).Scan(&subID)
		if err != nil {
			return err
		}
		spec.OpenJD = &job.OpenJDStep{Submission: subID}
		enc, err := json.Marshal(&spec)
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `INSERT INTO jobs
			(name, spec, pool, priority, task_count, init_state, init_kind, init_value, submitted_at)
			VALUES (?, ?, ?, ?, 0, ?, '', '', ?) RETURNING id`,
			spec.Name, string(enc), spec.Pool, spec.Priority, string(job.Queued), nanos(at)).Scan(&jobID)
		if err != nil {
			return err
		}
		return insertLabels(ctx, tx, jobID, spec.Labels)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("recording OpenJD job: %w", err)
	}
	return subID, jobID, nil
}

// OpenJDGet returns a recorded OpenJD job; job.ErrNotFound (wrapped) if
// there is none.
func (s *Store) OpenJDGet(ctx context.Context, id int64) (*job.OpenJDJob, error) {
	var data string
	err := s.r.QueryRowContext(ctx, `SELECT data FROM openjd_submissions WHERE id = ?`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("no OpenJD job %d: %w", id, job.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading OpenJD job %d: %w", id, err)
	}
	var sub job.OpenJDJob
	if err := json.Unmarshal([]byte(data), &sub); err != nil {
		return nil, fmt.Errorf("reading OpenJD job %d: %w", id, err)
	}
	return &sub, nil
}

// deleteJob deletes a job's rows. The job standing for a whole OpenJD job
// goes with the last of its steps' jobs, and the stored templates with the
// last job that names them. A job with steps is deleted only once it has
// none left.
func deleteJob(ctx context.Context, tx *sql.Tx, id int64) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE parent = ?`, id).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return fmt.Errorf("job %d has %d steps' jobs: they go first: %w", id, n, job.ErrInvalidState)
	}
	// Children first: deleting them directly is cheaper than having the
	// ON DELETE CASCADE clauses do it row by row.
	for _, q := range []string{
		`DELETE FROM tasks WHERE job_id = ?`,
		`DELETE FROM job_labels WHERE job_id = ?`,
	} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return err
		}
	}
	var sub, parent sql.NullInt64
	err := tx.QueryRowContext(ctx, `DELETE FROM jobs WHERE id = ?
		RETURNING json_extract(spec, '$.openjd.submission'), parent`, id).Scan(&sub, &parent)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoJob(id)
	}
	if err != nil {
		return err
	}
	if parent.Valid {
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE parent = ?`, parent.Int64).Scan(&left); err != nil {
			return err
		}
		if left == 0 {
			return deleteJob(ctx, tx, parent.Int64)
		}
		if err := parentFinished(ctx, tx, parent.Int64); err != nil {
			return err
		}
	}
	if sub.Valid {
		_, err = tx.ExecContext(ctx, `DELETE FROM openjd_submissions WHERE id = ?
			AND NOT EXISTS (SELECT 1 FROM jobs WHERE json_extract(spec, '$.openjd.submission') = ?)`, sub.Int64, sub.Int64)
	}
	return err
}

// parentFinished sets the finished_at of OpenJD job parent from its
// steps' jobs: the last of their ends once they have all ended, else NULL.
func parentFinished(ctx context.Context, tx *sql.Tx, parent int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE jobs SET finished_at =
		CASE WHEN EXISTS (SELECT 1 FROM jobs c WHERE c.parent = ?1 AND c.finished_at IS NULL) THEN NULL
		ELSE (SELECT max(c.finished_at) FROM jobs c WHERE c.parent = ?1) END
		WHERE id = ?1`, parent)
	return err
}
