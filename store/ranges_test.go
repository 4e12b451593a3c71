package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/berth-run/berth/job"
)

// An array recorded before migration 007, with a row per task, keeps
// working: counted, loaded and updated from its rows, with no ranges.
func TestMigrateRangesOldArray(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "berth.db")
	db, err := sql.Open("sqlite", dsn(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if done, err := migrateNext(ctx, db, migrations[:6]); err != nil || done {
		t.Fatalf("migrating: %v, %v", done, err)
	}
	for range 5 {
		if _, err := migrateNext(ctx, db, migrations[:6]); err != nil {
			t.Fatal(err)
		}
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO jobs (id, name, spec, pool, priority, task_count, init_state, init_kind, init_value, submitted_at)
		VALUES (1, 'old', '{"template":{"command":"true"},"array":{"begin":1,"end":3,"step":1},"pool":"default"}', 'default', 0, 3, 'Queued', '', '', ?)`, nanos(t0))
	for i := 1; i <= 3; i++ {
		exec(`INSERT INTO tasks (job_id, idx, state) VALUES (1, ?, 'Queued')`, i)
	}
	db.Close()

	s := openAt(t, path)
	j, err := s.JobGet(ctx, 1)
	if err != nil || j.Tasks[job.Queued] != 3 || len(j.Tasks) != 1 {
		t.Fatalf("JobGet = %+v, %v", j, err)
	}
	var rows int
	err = s.TasksActiveByJob(ctx, func(aj *ActiveJob) error {
		if aj.Pending != nil {
			t.Errorf("old array has ranges: %+v", aj.Pending)
		}
		return nil
	}, func(*ActiveTask) error { rows++; return nil })
	if err != nil || rows != 3 {
		t.Fatalf("TasksActiveByJob: %d rows, %v", rows, err)
	}
	if err := s.TasksPut(ctx, []*job.Task{{JobID: 1, Index: 2, State: job.Running, Info: job.Info{Attempt: 1}}}, t0); err != nil {
		t.Fatal(err)
	}
	tasks, err := s.TaskList(ctx, &TaskListParams{JobID: 1, AfterIndex: -1})
	if err != nil || len(tasks) != 3 || tasks[1].State != job.Running {
		t.Fatalf("TaskList = %v, %v", tasks, err)
	}
}

// A new array is one range: its tasks get rows one by one as they are
// written, the range splitting around them; stopping the rest is one write,
// after which the job has ended.
func TestRanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "berth.db"))
	id := insert(t, s, array("a", 10, 30, 5)) // 10 15 20 25 30
	rangesOf := func() []Range {
		t.Helper()
		var p *Pending
		err := s.read(ctx, func(tx *sql.Tx) (err error) { p, err = jobPending(ctx, tx, id); return err })
		if err != nil {
			t.Fatal(err)
		}
		if p == nil {
			return nil
		}
		return p.Ranges
	}
	if got := rangesOf(); len(got) != 1 || got[0] != (Range{10, 30, 5}) {
		t.Fatalf("ranges = %v", got)
	}
	// The first put as the scheduler writes, the others with the store
	// reading what it needs.
	put := func(idx int, st job.State) {
		t.Helper()
		tk, err := s.TaskGet(ctx, id, idx)
		if err != nil {
			t.Fatal(err)
		}
		tk.State = st
		if err := s.TasksPut(ctx, []*job.Task{tk}, t0); err != nil {
			t.Fatal(err)
		}
	}
	tk, err := s.TaskGet(ctx, id, 20)
	if err != nil {
		t.Fatal(err)
	}
	prev := TaskPrev{State: tk.State, SubState: tk.SubState}
	tk.State = job.Running
	if err := s.TasksCommit(ctx, []TaskPut{{Task: tk, PrevKnown: true, Prev: prev}}, nil, t0); err != nil {
		t.Fatal(err)
	}
	put(10, job.Running)
	if got := rangesOf(); len(got) != 2 || got[0] != (Range{15, 15, 5}) || got[1] != (Range{25, 30, 5}) {
		t.Fatalf("ranges after two tasks = %v", got)
	}
	if _, err := s.TaskGet(ctx, id, 16); err == nil {
		t.Fatal("TaskGet of an index not in the array found one")
	}
	err = s.TasksCommit(ctx, nil, []RangePut{{JobID: id, State: job.Failed, SubState: job.SubState{Kind: job.ReasonCanceled}}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.JobGet(ctx, id)
	if err != nil || j.Tasks[job.Failed] != 3 || j.Tasks[job.Running] != 2 || j.FinishedAt != nil {
		t.Fatalf("JobGet = %+v, %v", j, err)
	}
	for _, idx := range []int{10, 20} {
		put(idx, job.Done)
	}
	j, err = s.JobGet(ctx, id)
	if err != nil || j.State != job.Failed || j.FinishedAt == nil {
		t.Fatalf("JobGet after the ends = %+v, %v", j, err)
	}
	tk, err = s.TaskGet(ctx, id, 30)
	if err != nil || tk.State != job.Failed || tk.SubState.Kind != job.ReasonCanceled || tk.FinishedAt == nil {
		t.Fatalf("TaskGet of a canceled range task = %+v, %v", tk, err)
	}
	h, err := s.TaskHistory(ctx, id, 30)
	if err != nil || len(h) != 2 || h[1].State != job.Failed {
		t.Fatalf("TaskHistory of a canceled range task = %+v, %v", h, err)
	}
	var states []job.State
	if err := s.TaskStates(ctx, id, func(_ int, st job.State) bool { states = append(states, st); return true }); err != nil {
		t.Fatal(err)
	}
	if len(states) != 5 || states[0] != job.Done || states[1] != job.Failed || states[2] != job.Done {
		t.Fatalf("TaskStates = %v", states)
	}
	if ok, err := s.JobDeleteEnded(ctx, id); err != nil || !ok {
		t.Fatalf("JobDeleteEnded = %v, %v", ok, err)
	}
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM task_ranges`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("ranges of a deleted job: %d, %v", n, err)
	}
}
