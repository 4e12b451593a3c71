package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/berth-run/berth/job"
)

// unendedIn is the SQL list of the states that are not terminal. Matching
// them with IN lets SQLite seek tasks_job_state for each, never stepping over
// a job's ended tasks.
var unendedIn = func() string {
	var q []string
	for _, s := range job.States {
		if !s.Terminal() {
			q = append(q, "'"+string(s)+"'")
		}
	}
	return "(" + strings.Join(q, ", ") + ")"
}()

// TasksPut writes the given tasks whole (state, sub-state and Info, keyed by
// JobID and Index) in one transaction. For each task whose state, sub-state
// or attempt differs from the stored one it appends an entry to the task's
// history, stamped at. A job whose tasks have all ended gets its FinishedAt
// set to at. Tasks of deleted jobs are ignored.
//
// Only existing tasks are updated; Name and SubmittedAt, which belong to the
// job, are not written. A job with an unended task again (a rerun) gets its
// FinishedAt cleared.
func (s *Store) TasksPut(ctx context.Context, tasks []*job.Task, at time.Time) error {
	puts := make([]TaskPut, len(tasks))
	for i, t := range tasks {
		puts[i].Task = t
	}
	return s.TasksPutWith(ctx, puts, at)
}

// TaskPut is one task for TasksPutWith.
type TaskPut struct {
	Task *job.Task
	// Sizes, when set, records the sizes of the task's output files, as
	// OutputSizesSet does.
	Sizes *Offsets
	// PrevKnown says that Prev holds the task's stored state, sub-state and
	// attempt, and JobEnded whether all of its job's tasks have ended with
	// this write: a caller that tracks them (the scheduler) spares a read of
	// the task and a scan of the job's tasks.
	PrevKnown bool
	Prev      TaskPrev
	JobEnded  bool
}

// TaskPrev is what TasksPutWith compares a task with to decide on a
// history entry.
type TaskPrev struct {
	State    job.State
	SubState job.SubState
	Attempt  int
}

// TasksPutWith is TasksPut that also records output sizes, in the same
// transaction.
func (s *Store) TasksPutWith(ctx context.Context, puts []TaskPut, at time.Time) error {
	if len(puts) == 0 {
		return nil
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		get := tx.StmtContext(ctx, s.hot.taskGet)
		upd := tx.StmtContext(ctx, s.hot.taskUpdate)
		updSizes := tx.StmtContext(ctx, s.hot.taskUpdateSizes)

		// Jobs with a task that ended or un-ended: only theirs can change.
		// Those whose end the caller knows are settled without a scan.
		flipped := map[int64]bool{}
		ended := map[int64]bool{}
		for _, p := range puts {
			t := p.Task
			old := p.Prev
			if !p.PrevKnown {
				err := get.QueryRowContext(ctx, t.JobID, t.Index).Scan(&old.State, &old.SubState.Kind, &old.SubState.Value, &old.Attempt)
				if errors.Is(err, sql.ErrNoRows) {
					continue // its job was deleted
				}
				if err != nil {
					return err
				}
			}
			var exit any
			if t.ExitCode != nil {
				exit = *t.ExitCode
			}
			// The entry rides on the UPDATE below; "" appends nothing.
			hist := ""
			if old.State != t.State || old.SubState != t.SubState || old.Attempt != t.Attempt {
				e, err := historyEntry(t, at)
				if err != nil {
					return fmt.Errorf("task %d.%d: %w", t.JobID, t.Index, err)
				}
				hist = e
			}
			args := []any{string(t.State), string(t.SubState.Kind), t.SubState.Value, t.Attempt,
				t.Input, t.Worker, t.Host, t.PID, t.ContainerID, t.Session, exit, t.Signal, t.Message,
				nullNanos(t.StartedAt), nullNanos(t.FinishedAt), int64(t.CPUTime), t.MaxRSS, t.Stdout, t.Stderr,
				nullNanos(t.RetryAt), t.Hostname, portsText(t.Ports), hist}
			stmt := upd
			if o := p.Sizes; o != nil {
				stmt = updSizes
				args = append(args, o.Stdout, o.Stderr, o.Results)
			}
			res, err := stmt.ExecContext(ctx, append(args, t.JobID, t.Index)...)
			if err != nil {
				return err
			}
			if p.PrevKnown {
				if n, err := res.RowsAffected(); err != nil {
					return err
				} else if n == 0 {
					continue // its job was deleted
				}
			}
			if old.State.Terminal() != t.State.Terminal() {
				if !p.PrevKnown {
					flipped[t.JobID] = true
				} else if p.JobEnded {
					ended[t.JobID] = true
				} else if old.State.Terminal() {
					ended[t.JobID] = false // a rerun
				}
			}
		}
		// Each UPDATE returns the job's parent: an OpenJD job ends with the
		// last of its steps' jobs.
		parents := map[int64]bool{}
		setFinished := func(q string, args ...any) error {
			var parent sql.NullInt64
			err := tx.QueryRowContext(ctx, q+` RETURNING parent`, args...).Scan(&parent)
			if errors.Is(err, sql.ErrNoRows) {
				return nil // the job was deleted
			}
			if parent.Valid {
				parents[parent.Int64] = true
			}
			return err
		}
		for _, id := range slices.Sorted(maps.Keys(flipped)) {
			if err := setFinished(`UPDATE jobs SET finished_at =
				CASE WHEN EXISTS (SELECT 1 FROM tasks WHERE job_id = ? AND state IN `+unendedIn+`)
				THEN NULL ELSE coalesce(finished_at, ?) END WHERE id = ?`, id, nanos(at), id); err != nil {
				return err
			}
		}
		for _, id := range slices.Sorted(maps.Keys(ended)) {
			if flipped[id] {
				continue
			}
			q, args := `UPDATE jobs SET finished_at = NULL WHERE id = ?`, []any{id}
			if ended[id] {
				q, args = `UPDATE jobs SET finished_at = coalesce(finished_at, ?) WHERE id = ?`, []any{nanos(at), id}
			}
			if err := setFinished(q, args...); err != nil {
				return err
			}
		}
		for _, p := range slices.Sorted(maps.Keys(parents)) {
			if err := parentFinished(ctx, tx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("writing tasks: %w", err)
	}
	return nil
}

// ActiveTask is an unended task with what the scheduler needs of its job.
type ActiveTask struct {
	Task job.Task
	Spec *job.Spec // shared by all tasks of the same job
	// Done and Failed count the job's ended tasks.
	Done, Failed int
}

// activeJobsPage bounds the specs TasksActive holds at once.
const activeJobsPage = 64

// TasksActive calls fn for every task not in a terminal state, in job ID then
// index order, with one *job.Spec value per job. Used by the scheduler to
// rebuild its queue on start.
//
// It reads one snapshot, a page of jobs and then each job's tasks as a
// stream, so memory stays bounded by what fn keeps.
func (s *Store) TasksActive(ctx context.Context, fn func(*ActiveTask) error) error {
	err := s.read(ctx, func(tx *sql.Tx) error {
		// Prepared once: preparing costs more than running them.
		tasks, err := tx.PrepareContext(ctx, sqlActiveTasks)
		if err != nil {
			return err
		}
		defer tasks.Close()
		ended, err := tx.PrepareContext(ctx, sqlEndedCounts)
		if err != nil {
			return err
		}
		defer ended.Close()
		var after int64
		for {
			ids, specs, err := activeJobs(ctx, tx, after)
			if err != nil || len(ids) == 0 {
				return err
			}
			for i, id := range ids {
				if err := activeTasks(ctx, tasks, ended, id, specs[i], fn); err != nil {
					return err
				}
			}
			if len(ids) < activeJobsPage {
				return nil
			}
			after = ids[len(ids)-1]
		}
	})
	if err != nil {
		return fmt.Errorf("reading active tasks: %w", err)
	}
	return nil
}

func activeJobs(ctx context.Context, tx *sql.Tx, after int64) ([]int64, []*job.Spec, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, spec FROM jobs
		WHERE finished_at IS NULL AND id > ? ORDER BY id LIMIT ?`, after, activeJobsPage)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var ids []int64
	var specs []*job.Spec
	for rows.Next() {
		var id int64
		var raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, nil, err
		}
		spec := new(job.Spec)
		if err := json.Unmarshal([]byte(raw), spec); err != nil {
			return nil, nil, fmt.Errorf("decoding spec of job %d: %w", id, err)
		}
		ids = append(ids, id)
		specs = append(specs, spec)
	}
	return ids, specs, rows.Err()
}

// "+t.state" keeps SQLite on the primary key, which yields index order
// without sorting the job's tasks first.
var sqlActiveTasks = `SELECT ` + taskCols + ` FROM tasks t JOIN jobs j ON j.id = t.job_id
		WHERE t.job_id = ? AND +t.state IN ` + unendedIn + ` ORDER BY t.idx`

const sqlEndedCounts = `SELECT
	(SELECT count(*) FROM tasks WHERE job_id = ?1 AND state = 'Done'),
	(SELECT count(*) FROM tasks WHERE job_id = ?1 AND state = 'Failed')`

func activeTasks(ctx context.Context, tasks, ended *sql.Stmt, id int64, spec *job.Spec, fn func(*ActiveTask) error) error {
	var done, failed int
	if err := ended.QueryRowContext(ctx, id).Scan(&done, &failed); err != nil {
		return err
	}
	rows, err := tasks.QueryContext(ctx, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		a := &ActiveTask{Spec: spec, Done: done, Failed: failed}
		if err := scanTask(rows, &a.Task); err != nil {
			return err
		}
		if err := fn(a); err != nil {
			return err
		}
	}
	return rows.Err()
}

// taskCols are the columns scanTask reads, from tasks t joined to jobs j.
const taskCols = `t.job_id, t.idx, j.name, t.state, t.sub_kind, t.sub_value, t.attempt, t.input,
	t.worker, t.host, t.pid, t.container_id, t.session, t.exit_code, t.signal, t.message,
	j.submitted_at, t.started_at, t.finished_at, t.cpu_ns, t.max_rss, t.stdout, t.stderr, t.retry_at,
	t.hostname, t.ports`

func scanTask(row interface{ Scan(...any) error }, t *job.Task) error {
	var exit, started, finished, retry sql.NullInt64
	var submitted, cpu int64
	var ports string
	err := row.Scan(&t.JobID, &t.Index, &t.Name, &t.State, &t.SubState.Kind, &t.SubState.Value, &t.Attempt, &t.Input,
		&t.Worker, &t.Host, &t.PID, &t.ContainerID, &t.Session, &exit, &t.Signal, &t.Message,
		&submitted, &started, &finished, &cpu, &t.MaxRSS, &t.Stdout, &t.Stderr, &retry,
		&t.Hostname, &ports)
	if err != nil {
		return err
	}
	if ports != "" {
		if err := json.Unmarshal([]byte(ports), &t.Ports); err != nil {
			return fmt.Errorf("task %d.%d: ports: %w", t.JobID, t.Index, err)
		}
	}
	if exit.Valid {
		c := int(exit.Int64)
		t.ExitCode = &c
	}
	t.SubmittedAt = fromNanos(submitted)
	t.StartedAt = fromNullNanos(started)
	t.FinishedAt = fromNullNanos(finished)
	t.RetryAt = fromNullNanos(retry)
	t.CPUTime = job.Duration(cpu)
	return nil
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

// TaskListLimitDefault is the page size of TaskList when Limit is not set.
const TaskListLimitDefault = 1000

// TaskList returns a job's tasks in index order.
func (s *Store) TaskList(ctx context.Context, p *TaskListParams) ([]*job.Task, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = TaskListLimitDefault
	}
	q := `SELECT ` + taskCols + ` FROM tasks t JOIN jobs j ON j.id = t.job_id
		WHERE t.job_id = ? AND t.idx > ?`
	args := []any{p.JobID, p.AfterIndex}
	if len(p.States) > 0 {
		states, _ := json.Marshal(p.States)
		q += ` AND t.state IN (SELECT value FROM json_each(?))`
		args = append(args, string(states))
	}
	q += ` ORDER BY t.idx LIMIT ?`
	args = append(args, limit)
	var out []*job.Task
	err := s.read(ctx, func(tx *sql.Tx) error {
		if err := jobExists(ctx, tx, p.JobID); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			t := new(job.Task)
			if err := scanTask(rows, t); err != nil {
				return err
			}
			out = append(out, t)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("listing tasks: %w", err)
	}
	return out, nil
}

// TaskGet returns one task; job.ErrNotFound (wrapped) if there is none.
func (s *Store) TaskGet(ctx context.Context, jobID int64, index int) (*job.Task, error) {
	t := new(job.Task)
	err := s.read(ctx, func(tx *sql.Tx) error {
		err := scanTask(tx.QueryRowContext(ctx, `SELECT `+taskCols+` FROM tasks t JOIN jobs j ON j.id = t.job_id
			WHERE t.job_id = ? AND t.idx = ?`, jobID, index), t)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(ctx, tx, jobID, index)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Transition is one entry of a task's state history.
type Transition struct {
	Attempt  int          `json:"attempt"`
	State    job.State    `json:"state"`
	SubState job.SubState `json:"substate,omitzero"`
	Time     time.Time    `json:"time"`
	// Message is the task's message when it failed, or when an attempt
	// failed and the task was requeued to retry it (sub-state RETRYING,
	// whose value is the failed attempt's sub-state): a start error, why it
	// was lost. RetryAt is, for the latter, when the next attempt was due.
	Message string     `json:"message,omitempty"`
	RetryAt *time.Time `json:"retry_at,omitempty"`
}

// historyKept is how many transitions a task keeps after its submission,
// as Nomad keeps a task's last 10 events.
const historyKept = 10

// historyLine is one entry of the tasks.history column: compact JSON, one
// per line, with the short keys migration 002 also writes.
type historyLine struct {
	Attempt int    `json:"a"`
	State   string `json:"s"`
	Kind    string `json:"k"`
	Value   string `json:"v"`
	At      int64  `json:"t"` // Unix nanoseconds
	Message string `json:"m,omitempty"`
	RetryAt int64  `json:"r,omitempty"` // Unix nanoseconds
}

// historyEntry returns the history line, "\n" included, recording that t
// is in its state at at.
func historyEntry(t *job.Task, at time.Time) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // as SQLite's json_object writes it; Encode adds the "\n"
	line := historyLine{Attempt: t.Attempt, State: string(t.State),
		Kind: string(t.SubState.Kind), Value: t.SubState.Value, At: nanos(at), Message: historyMessage(t)}
	if t.RetryAt != nil && t.SubState.Kind == job.ReasonRetrying {
		line.RetryAt = nanos(*t.RetryAt)
	}
	err := enc.Encode(line)
	if err != nil {
		return "", fmt.Errorf("encoding history entry: %w", err)
	}
	return b.String(), nil
}

// historyMessage is the message an entry keeps: that of a failed attempt,
// bounded, since the row holds historyKept entries and every update
// rewrites it.
func historyMessage(t *job.Task) string {
	if t.State != job.Failed && t.SubState.Kind != job.ReasonRetrying {
		return ""
	}
	const maxLen = 256
	if len(t.Message) > maxLen {
		return strings.ToValidUTF8(t.Message[:maxLen], "") + "…"
	}
	return t.Message
}

// TaskHistory returns a task's state changes, oldest first.
//
// The first, the submission, comes from the job row (see JobInsert); the
// rest from the task's history column.
func (s *Store) TaskHistory(ctx context.Context, jobID int64, index int) ([]Transition, error) {
	var first Transition
	var submitted int64
	var hist string
	err := s.read(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT j.init_state, j.init_kind, j.init_value, j.submitted_at, t.history
			FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE t.job_id = ? AND t.idx = ?`, jobID, index).
			Scan(&first.State, &first.SubState.Kind, &first.SubState.Value, &submitted, &hist)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound(ctx, tx, jobID, index)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	first.Time = fromNanos(submitted)
	// The row may hold one more than historyKept (see sqlHistoryAppend).
	for strings.Count(hist, "\n") > historyKept {
		_, hist, _ = strings.Cut(hist, "\n")
	}
	out := make([]Transition, 1, 1+strings.Count(hist, "\n"))
	out[0] = first
	n := 0
	for line := range strings.Lines(hist) {
		n++
		var h historyLine
		if err := json.Unmarshal([]byte(line), &h); err != nil {
			return nil, fmt.Errorf("reading history of task %d.%d: entry %d: %w", jobID, index, n, err)
		}
		tr := Transition{Attempt: h.Attempt, State: job.State(h.State),
			SubState: job.SubState{Kind: job.Reason(h.Kind), Value: h.Value}, Time: fromNanos(h.At), Message: h.Message}
		if h.RetryAt != 0 {
			r := fromNanos(h.RetryAt)
			tr.RetryAt = &r
		}
		out = append(out, tr)
	}
	return out, nil
}

// jobExists returns errNoJob unless the job exists.
func jobExists(ctx context.Context, tx *sql.Tx, id int64) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM jobs WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoJob(id)
	}
	return err
}

// notFound says whether the job or only the task is missing.
func notFound(ctx context.Context, tx *sql.Tx, jobID int64, index int) error {
	if err := jobExists(ctx, tx, jobID); err != nil {
		return err
	}
	return errNoTask(jobID, index)
}

// portsText encodes a task's published ports for their column; none: "".
func portsText(ports []job.PublishedPort) string {
	if len(ports) == 0 {
		return ""
	}
	b, _ := json.Marshal(ports) // plain fields: always encodes
	return string(b)
}
