package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/berth-run/berth/job"
)

// JobListNewest is JobList in descending ID order: the newest jobs matching
// p and pool (empty: any) with IDs below before (0: from the newest).
// p.AfterID is ignored. For the dashboard, whose first page is the latest
// jobs.
func (s *Store) JobListNewest(ctx context.Context, p *JobListParams, pool string, before int64) ([]*job.Job, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = JobListLimitDefault
	}
	where, args := jobFilter(p)
	if pool != "" {
		where += ` AND pool = ?`
		args = append(args, pool)
	}
	var out []*job.Job
	for len(out) < limit {
		n := limit - len(out)
		if len(p.States) > 0 {
			n = max(n, statePageMin)
		}
		var ids []int64
		err := s.read(ctx, func(tx *sql.Tx) error {
			q := `SELECT id FROM jobs WHERE 1` + where
			a := args
			if before > 0 {
				q += ` AND id < ?`
				a = append(append([]any{}, args...), before)
			}
			rows, err := tx.QueryContext(ctx, q+` ORDER BY id DESC LIMIT ?`, append(a, n)...)
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
			return nil, fmt.Errorf("listing the newest jobs: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		jobs, err := s.JobList(ctx, &JobListParams{IDs: ids, States: p.States, Limit: len(ids)})
		if err != nil {
			return nil, err
		}
		for i := len(jobs) - 1; i >= 0 && len(out) < limit; i-- {
			out = append(out, jobs[i])
		}
		if len(ids) < n {
			break
		}
		before = ids[len(ids)-1]
	}
	return out, nil
}

// EndedJobCounts returns how many jobs have ended, and how many of those
// failed (a task failed).
func (s *Store) EndedJobCounts(ctx context.Context) (ended, failed int, err error) {
	err = s.read(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE finished_at IS NOT NULL`).Scan(&ended); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs j WHERE finished_at IS NOT NULL
			AND EXISTS (SELECT 1 FROM tasks t WHERE t.job_id = j.id AND t.state = ?)`, job.Failed).Scan(&failed)
	})
	if err != nil {
		return 0, 0, fmt.Errorf("counting ended jobs: %w", err)
	}
	return ended, failed, nil
}

// TaskStates calls fn with the index and state of each task of a job, in
// index order: the least a grid of 100,000 tasks needs.
func (s *Store) TaskStates(ctx context.Context, jobID int64, fn func(index int, st job.State)) error {
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT idx, state FROM tasks WHERE job_id = ? ORDER BY idx`, jobID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var idx int
			var st job.State
			if err := rows.Scan(&idx, &st); err != nil {
				return err
			}
			fn(idx, st)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("reading the task states of job %d: %w", jobID, err)
	}
	return nil
}
