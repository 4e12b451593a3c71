package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Offsets are how far receive has read a task's stdout, stderr and results
// (byte offsets into the files).
type Offsets struct {
	Stdout  int64 `json:"stdout"`
	Stderr  int64 `json:"stderr"`
	Results int64 `json:"results"`
}

// ReceiveOffsets returns a task's receive offsets (zero if never received).
func (s *Store) ReceiveOffsets(ctx context.Context, jobID int64, index int) (Offsets, error) {
	var o Offsets
	err := s.read(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT recv_stdout, recv_stderr, recv_results FROM tasks
			WHERE job_id = ? AND idx = ?`, jobID, index).Scan(&o.Stdout, &o.Stderr, &o.Results)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(ctx, tx, jobID, index)
		}
		return err
	})
	if err != nil {
		return Offsets{}, fmt.Errorf("reading receive offsets: %w", err)
	}
	return o, nil
}

// ReceiveOffsetsSet records a task's receive offsets. A task whose offsets
// fall short of its file sizes HasMoreData; the caller passes the sizes it saw.
func (s *Store) ReceiveOffsetsSet(ctx context.Context, jobID int64, index int, o Offsets, sizes Offsets) error {
	return s.taskUpdate(ctx, jobID, index, `UPDATE tasks SET
		recv_stdout = ?, recv_stderr = ?, recv_results = ?,
		size_stdout = ?, size_stderr = ?, size_results = ?
		WHERE job_id = ? AND idx = ?`,
		o.Stdout, o.Stderr, o.Results, sizes.Stdout, sizes.Stderr, sizes.Results, jobID, index)
}

// OutputSizesSet records the sizes of a task's output files when it ends, for
// HasMoreData.
func (s *Store) OutputSizesSet(ctx context.Context, jobID int64, index int, sizes Offsets) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, s.hot.sizesSet).ExecContext(ctx, sizes.Stdout, sizes.Stderr, sizes.Results, jobID, index)
		if err != nil {
			return fmt.Errorf("updating task %d.%d: %w", jobID, index, err)
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return notFound(ctx, tx, jobID, index)
		}
		return err
	})
}

// taskUpdate runs an UPDATE of one task, which must exist.
func (s *Store) taskUpdate(ctx context.Context, jobID int64, index int, q string, args ...any) error {
	return s.write(Durable(ctx), func(tx *sql.Tx) error { // receive marks answer a user
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("updating task %d.%d: %w", jobID, index, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return notFound(ctx, tx, jobID, index)
		}
		return nil
	})
}
