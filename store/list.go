package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/berth-run/berth/job"
)

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

// JobListLimitDefault is the page size of JobList when Limit is not set.
const JobListLimitDefault = 1000

// statePageMin is the least number of jobs read per page when filtering on
// states, which happens after the read: small pages would mean many queries.
const statePageMin = 256

// JobList returns jobs in ID order, with State, Tasks counts, TaskCount,
// FinishedAt and HasMoreData filled in.
func (s *Store) JobList(ctx context.Context, p *JobListParams) ([]*job.Job, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = JobListLimitDefault
	}
	where, args := jobFilter(p)
	var out []*job.Job
	err := s.read(ctx, func(tx *sql.Tx) error {
		after := p.AfterID
		for len(out) < limit {
			n := limit - len(out)
			if len(p.States) > 0 {
				n = max(n, statePageMin)
			}
			page, err := jobPage(ctx, tx, where, args, after, n)
			if err != nil || len(page) == 0 {
				return err
			}
			if err := pageCounts(ctx, tx, page); err != nil {
				return err
			}
			for _, r := range page {
				if len(out) == limit {
					break
				}
				if len(p.States) > 0 && !slices.Contains(p.States, r.job.State) {
					continue
				}
				if err := r.finish(); err != nil {
					return err
				}
				out = append(out, r.job)
			}
			if len(page) < n {
				break
			}
			after = page[len(page)-1].job.ID
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing jobs: %w", err)
	}
	return out, nil
}

// jobFilter turns p, except AfterID, Limit and the exact States, into a WHERE
// clause on jobs.
func jobFilter(p *JobListParams) (string, []any) {
	var conds []string
	var args []any
	if len(p.IDs) > 0 {
		ids, _ := json.Marshal(p.IDs)
		conds = append(conds, `id IN (SELECT value FROM json_each(?))`)
		args = append(args, string(ids))
	}
	if p.NameGlob != "" {
		conds = append(conds, `name GLOB ?`)
		args = append(args, p.NameGlob)
	}
	for _, k := range slices.Sorted(maps.Keys(p.Labels)) {
		conds = append(conds, `id IN (SELECT job_id FROM job_labels WHERE key = ? AND value = ?)`)
		args = append(args, k, p.Labels[k])
	}
	if !p.Since.IsZero() {
		conds = append(conds, `submitted_at >= ?`)
		args = append(args, nanos(p.Since))
	}
	// finished_at is set exactly when all tasks ended, that is when the job
	// is Done or Failed: narrow in SQL, then match the exact state in Go.
	if len(p.States) > 0 {
		ended := 0
		for _, st := range p.States {
			if st.Terminal() {
				ended++
			}
		}
		switch ended {
		case len(p.States):
			conds = append(conds, `finished_at IS NOT NULL`)
		case 0:
			conds = append(conds, `finished_at IS NULL`)
		}
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " AND " + strings.Join(conds, " AND "), args
}

type pageRow struct {
	job  *job.Job
	spec string
	sub  job.SubState // of the first task counted: the only one of a plain job
}

func jobPage(ctx context.Context, tx *sql.Tx, where string, args []any, after int64, n int) ([]*pageRow, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, spec, task_count, submitted_at, finished_at
		FROM jobs WHERE id > ?`+where+` ORDER BY id LIMIT ?`,
		append(append([]any{after}, args...), n)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var page []*pageRow
	for rows.Next() {
		r := &pageRow{job: &job.Job{Tasks: map[job.State]int{}}}
		var submitted int64
		var finished sql.NullInt64
		if err := rows.Scan(&r.job.ID, &r.spec, &r.job.TaskCount, &submitted, &finished); err != nil {
			return nil, err
		}
		r.job.SubmittedAt = fromNanos(submitted)
		r.job.FinishedAt = fromNullNanos(finished)
		page = append(page, r)
	}
	return page, rows.Err()
}

// pageCounts fills in the counts, State and HasMoreData of a page of jobs
// with one grouped query and one query on the small tasks_more_data index.
func pageCounts(ctx context.Context, tx *sql.Tx, page []*pageRow) error {
	byID := make(map[int64]*pageRow, len(page))
	ids := make([]int64, len(page))
	for i, r := range page {
		byID[r.job.ID] = r
		ids[i] = r.job.ID
	}
	parentOf, err := pageSteps(ctx, tx, page)
	if err != nil {
		return err
	}
	for id := range parentOf {
		if byID[id] == nil {
			ids = append(ids, id)
		}
	}
	// rowsOf are the page's rows a job's tasks count for: its own, and its
	// parent's.
	rowsOf := func(id int64) []*pageRow {
		var rs []*pageRow
		if r := byID[id]; r != nil {
			rs = append(rs, r)
		}
		if p := parentOf[id]; p != nil {
			rs = append(rs, p)
		}
		return rs
	}
	idsJSON, _ := json.Marshal(ids)
	rows, err := tx.QueryContext(ctx, `SELECT job_id, state, count(*), min(sub_kind), min(sub_value)
		FROM tasks WHERE job_id IN (SELECT value FROM json_each(?))
		GROUP BY job_id, state`, string(idsJSON))
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var state job.State
		var n int
		var sub job.SubState
		if err := rows.Scan(&id, &state, &n, &sub.Kind, &sub.Value); err != nil {
			return err
		}
		for _, r := range rowsOf(id) {
			r.job.Tasks[state] += n
			r.sub = sub
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range page {
		r.job.State = job.Summarize(r.job.Tasks)
	}

	// INDEXED BY: the planner, without statistics, would scan each job's
	// tasks rather than this index of the few with output left.
	more, err := tx.QueryContext(ctx, `SELECT DISTINCT job_id FROM tasks INDEXED BY tasks_more_data
		WHERE job_id IN (SELECT value FROM json_each(?))
		AND (size_stdout > recv_stdout OR size_stderr > recv_stderr OR size_results > recv_results)`,
		string(idsJSON))
	if err != nil {
		return err
	}
	defer more.Close()
	for more.Next() {
		var id int64
		if err := more.Scan(&id); err != nil {
			return err
		}
		for _, r := range rowsOf(id) {
			r.job.HasMoreData = true
		}
	}
	return more.Err()
}

// pageSteps fills in the Steps and TaskCount of the page's jobs with
// steps (those with no tasks of their own) and returns the parent row of
// each of their steps' jobs.
func pageSteps(ctx context.Context, tx *sql.Tx, page []*pageRow) (map[int64]*pageRow, error) {
	parents := map[int64]*pageRow{}
	for _, r := range page {
		if r.job.TaskCount == 0 {
			parents[r.job.ID] = r
		}
	}
	if len(parents) == 0 {
		return nil, nil
	}
	idsJSON, _ := json.Marshal(slices.Collect(maps.Keys(parents)))
	rows, err := tx.QueryContext(ctx, `SELECT id, parent, task_count FROM jobs
		WHERE parent IN (SELECT value FROM json_each(?)) ORDER BY id`, string(idsJSON))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	parentOf := map[int64]*pageRow{}
	for rows.Next() {
		var id, parent int64
		var n int
		if err := rows.Scan(&id, &parent, &n); err != nil {
			return nil, err
		}
		p := parents[parent]
		p.job.Steps = append(p.job.Steps, id)
		p.job.TaskCount += n
		parentOf[id] = p
	}
	return parentOf, rows.Err()
}

// finish decodes the spec, which only jobs that passed the filter need.
func (r *pageRow) finish() error {
	if err := json.Unmarshal([]byte(r.spec), &r.job.Spec); err != nil {
		return fmt.Errorf("decoding spec of job %d: %w", r.job.ID, err)
	}
	if !r.job.IsArray() && !r.job.HasSteps() {
		r.job.SubState = r.sub
	}
	return nil
}
