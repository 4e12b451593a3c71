package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-run/berth/job"
)

// odd is a sub-state value that JSON must escape, and HTML escaping would.
const odd = "say \"hi\"\nthen\ttab \\ back <a&b> é \u2028 \x01 end"

func TestTaskHistoryEscapes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := setup(t)
	id := insert(t, s, array("a", 1, 2, 1))
	t1, t2, t3 := t0.Add(time.Second), t0.Add(2*time.Second), t0.Add(3*time.Second)
	sub := job.SubState{Kind: job.ReasonStartFailed, Value: odd}
	if err := s.TasksPut(ctx, []*job.Task{{JobID: id, Index: 1, State: job.Running, Info: job.Info{Attempt: 1}}}, t1); err != nil {
		t.Fatal(err)
	}
	// Through the statement that also sets sizes, with the previous state given.
	if err := s.TasksPutWith(ctx, []TaskPut{{
		Task:      &job.Task{JobID: id, Index: 1, State: job.Failed, SubState: sub, Info: job.Info{Attempt: 1}},
		Sizes:     &Offsets{Stdout: 1},
		PrevKnown: true, Prev: TaskPrev{State: job.Running, Attempt: 1},
	}}, t2); err != nil {
		t.Fatal(err)
	}
	// The same state again: no entry.
	if err := s.TasksPut(ctx, []*job.Task{{JobID: id, Index: 1, State: job.Failed, SubState: sub, Info: job.Info{Attempt: 1}}}, t3); err != nil {
		t.Fatal(err)
	}
	got, err := s.TaskHistory(ctx, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []Transition{
		{0, job.Queued, job.SubState{}, t0, "", nil},
		{1, job.Running, job.SubState{}, t1, "", nil},
		{1, job.Failed, sub, t2, "", nil},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TaskHistory =\n%+v\nwant\n%+v", got, want)
	}
	var hist string
	if err := s.r.QueryRow(`SELECT history FROM tasks WHERE job_id = ? AND idx = 1`, id).Scan(&hist); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(hist, "\n"); n != 2 || !strings.HasSuffix(hist, "\n") {
		t.Errorf("history column %q: want 2 lines, each ending in a newline", hist)
	}
}

// TestMigrateTaskHistoryInline builds a database at schema version 1 with
// task_history rows and checks that migration 002 carries them over.
func TestMigrateTaskHistoryInline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "berth.db")
	db, err := sql.Open("sqlite", dsn(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if done, err := migrateNext(ctx, db, migrations[:1]); err != nil || done {
		t.Fatalf("migrating to version 1: %v, %v", done, err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO jobs (id, name, spec, pool, priority, task_count, init_state, init_kind, init_value, submitted_at)
		VALUES (1, 'a', '{}', '', 0, 3, 'QueuedHeld', 'HELD', '', ?)`, nanos(t0))
	for i := 1; i <= 3; i++ {
		exec(`INSERT INTO tasks (job_id, idx, state) VALUES (1, ?, 'Done')`, i)
	}
	t1, t2, t3 := t0.Add(time.Second), t0.Add(2*time.Second), t0.Add(3*time.Second)
	sub := job.SubState{Kind: job.ReasonStartFailed, Value: odd}
	// Two tasks' rows interleaved, and task 3 with none.
	rows := []struct {
		id, idx int
		tr      Transition
	}{
		{10, 1, Transition{0, job.Queued, job.SubState{}, t1, "", nil}},
		{11, 2, Transition{0, job.Queued, job.SubState{}, t1, "", nil}},
		{12, 1, Transition{1, job.Running, job.SubState{}, t2, "", nil}},
		{13, 2, Transition{1, job.Failed, sub, t2, "", nil}},
		{14, 1, Transition{1, job.Done, job.ExitCode(0), t3, "", nil}},
		{15, 2, Transition{2, job.Requeued, job.SubState{Kind: job.ReasonRetrying, Value: "1"}, t3, "", nil}},
	}
	// Inserted in reverse, so that only id says which came first.
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		exec(`INSERT INTO task_history (id, job_id, idx, attempt, state, sub_kind, sub_value, at)
			VALUES (?, 1, ?, ?, ?, ?, ?, ?)`, r.id, r.idx, r.tr.Attempt, string(r.tr.State),
			string(r.tr.SubState.Kind), r.tr.SubState.Value, nanos(r.tr.Time))
	}
	db.Close()

	s := openAt(t, path)
	var v int
	if err := s.r.QueryRow(`SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil || v != len(migrations) {
		t.Fatalf("schema version = %d, %v; want %d", v, err, len(migrations))
	}
	var n int
	if err := s.r.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name LIKE 'task_history%'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("task_history table or index still there: %d, %v", n, err)
	}
	submitted := Transition{0, job.QueuedHeld, job.SubState{Kind: job.ReasonHeld}, t0, "", nil}
	for idx := 1; idx <= 3; idx++ {
		want := []Transition{submitted}
		var text strings.Builder // what TasksPut would have written
		for _, r := range rows {
			if r.idx == idx {
				want = append(want, r.tr)
				e, err := historyEntry(&job.Task{State: r.tr.State, SubState: r.tr.SubState, Info: job.Info{Attempt: r.tr.Attempt}}, r.tr.Time)
				if err != nil {
					t.Fatal(err)
				}
				text.WriteString(e)
			}
		}
		got, err := s.TaskHistory(ctx, 1, idx)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("task 1.%d: TaskHistory =\n%+v\nwant\n%+v", idx, got, want)
		}
		var hist string
		if err := s.r.QueryRow(`SELECT history FROM tasks WHERE job_id = 1 AND idx = ?`, idx).Scan(&hist); err != nil {
			t.Fatal(err)
		}
		// U+2028 is the one character Go escapes and SQLite does not;
		// either way it reads back the same, as checked above.
		if got, want := strings.ReplaceAll(hist, "\u2028", `\u2028`), text.String(); got != want {
			t.Errorf("task 1.%d: migrated history column\n%q\nwant, as the Go code writes it,\n%q", idx, got, want)
		}
	}

	// New transitions go after the migrated ones.
	t4 := t0.Add(4 * time.Second)
	if err := s.TasksPut(ctx, []*job.Task{{JobID: 1, Index: 2, State: job.Running, Info: job.Info{Attempt: 2}}}, t4); err != nil {
		t.Fatal(err)
	}
	got, err := s.TaskHistory(ctx, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || !reflect.DeepEqual(got[3:], []Transition{rows[5].tr, {2, job.Running, job.SubState{}, t4, "", nil}}) {
		t.Errorf("after a new transition: TaskHistory = %+v", got)
	}
}

// TestTaskHistoryCapped checks that a task keeps its last 10 transitions
// after the submission.
func TestTaskHistoryCapped(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := t.Context()
	id := insert(t, s, array("a", 1, 1, 1))
	tk := &job.Task{JobID: id, Index: 1, State: job.Running}
	for i := 1; i <= 25; i++ {
		tk.Attempt = i
		if err := s.TasksPut(ctx, []*job.Task{tk}, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	h, err := s.TaskHistory(ctx, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 11 {
		t.Fatalf("got %d transitions, want the submission and the last 10: %v", len(h), h)
	}
	if h[0].State != job.Queued {
		t.Errorf("first is %v, want the submission (Queued)", h[0])
	}
	for i, tr := range h[1:] {
		if tr.Attempt != 16+i {
			t.Errorf("transition %d: attempt %d, want %d", i+1, tr.Attempt, 16+i)
		}
	}
}

// TestTaskHistoryRetry: a task requeued to retry keeps its due time (in
// the row and in the history entry) and the failed attempt's message; a
// long message is cut.
func TestTaskHistoryRetry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := setup(t)
	id := insert(t, s, array("a", 1, 1, 1))
	t1, t2 := t0.Add(time.Second), t0.Add(2*time.Second)
	due := t0.Add(time.Minute)
	msg := strings.Repeat("x", 300)
	if err := s.TasksPut(ctx, []*job.Task{{JobID: id, Index: 1, State: job.Running, Info: job.Info{Attempt: 1}}}, t1); err != nil {
		t.Fatal(err)
	}
	retry := job.SubState{Kind: job.ReasonRetrying, Value: "LOST"}
	if err := s.TasksPut(ctx, []*job.Task{{JobID: id, Index: 1, State: job.Requeued, SubState: retry,
		Info: job.Info{Attempt: 1, Message: msg, RetryAt: &due}}}, t2); err != nil {
		t.Fatal(err)
	}
	tk, err := s.TaskGet(ctx, id, 1)
	if err != nil || tk.RetryAt == nil || !tk.RetryAt.Equal(due) {
		t.Fatalf("TaskGet = %+v, %v; want RetryAt %s", tk, err, due)
	}
	got, err := s.TaskHistory(ctx, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	last := got[len(got)-1]
	if last.SubState != retry || last.RetryAt == nil || !last.RetryAt.Equal(due) || last.Message != strings.Repeat("x", 256)+"…" {
		t.Errorf("last entry = %+v", last)
	}
	if got[1].Message != "" || got[1].RetryAt != nil {
		t.Errorf("the Running entry has a note: %+v", got[1])
	}
}
