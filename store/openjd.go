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

// OpenJDInsert records an OpenJD job's templates and values and returns
// their ID, which the jobs of its steps name (job.OpenJDStep.Submission).
func (s *Store) OpenJDInsert(ctx context.Context, sub *job.OpenJDJob, at time.Time) (int64, error) {
	data, err := json.Marshal(sub)
	if err != nil {
		return 0, fmt.Errorf("recording OpenJD job: %w", err)
	}
	var id int64
	err = s.write(Durable(ctx), func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO openjd_submissions (data, created_at) VALUES (?, ?) RETURNING id`,
			string(data), nanos(at)).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("recording OpenJD job: %w", err)
	}
	return id, nil
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

// openjdPrune deletes the submission id once no job names it any more.
func openjdPrune(ctx context.Context, tx *sql.Tx, id int64) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM openjd_submissions WHERE id = ?
		AND NOT EXISTS (SELECT 1 FROM jobs WHERE json_extract(spec, '$.openjd.submission') = ?)`, id, id)
	return err
}
