package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/berth-run/berth/job"
)

// TestConformance exercises every method of Store against a real database
// file, one fresh database per case.
func TestConformance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, ctx context.Context, s *Store)
	}{
		{"JobInsertPlain", testJobInsertPlain},
		{"JobInsertArray", testJobInsertArray},
		{"JobInsertInputs", testJobInsertInputs},
		{"JobInsertInvalid", testJobInsertInvalid},
		{"JobInsertIDsNeverReused", testJobInsertIDsNeverReused},
		{"JobGetNotFound", testJobGetNotFound},
		{"JobListFilters", testJobListFilters},
		{"JobListStatesPaging", testJobListStatesPaging},
		{"TasksPutRoundTrip", testTasksPutRoundTrip},
		{"TasksPutFinished", testTasksPutFinished},
		{"TasksPutFinishedPrevKnown", testTasksPutFinishedPrevKnown},
		{"TasksPutDeletedJob", testTasksPutDeletedJob},
		{"TasksActive", testTasksActive},
		{"TaskList", testTaskList},
		{"TaskGetNotFound", testTaskGetNotFound},
		{"TaskHistory", testTaskHistory},
		{"ReceiveOffsets", testReceiveOffsets},
		{"JobDelete", testJobDelete},
		{"Meta", testMeta},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, t.Context(), setup(t))
		})
	}
}

func testJobInsertPlain(t *testing.T, ctx context.Context, s *Store) {
	spec := plain("hello").WithDefaults()
	spec.Labels = map[string]string{"team": "a"}
	spec.Template.Args = []string{"x"}
	id, err := s.JobInsert(ctx, &JobInsertParams{Spec: spec, SubmittedAt: t0, State: job.QueuedHeld,
		SubState: job.SubState{Kind: job.ReasonHeld}})
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.JobGet(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := &job.Job{ID: id, Spec: spec, State: job.QueuedHeld, SubState: job.SubState{Kind: job.ReasonHeld},
		Tasks: map[job.State]int{job.QueuedHeld: 1}, TaskCount: 1, SubmittedAt: t0}
	if !reflect.DeepEqual(j, want) {
		t.Errorf("JobGet =\n%+v\nwant\n%+v", j, want)
	}
	tk, err := s.TaskGet(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	wantTask := &job.Task{JobID: id, Index: 0, Name: "hello", State: job.QueuedHeld,
		SubState: job.SubState{Kind: job.ReasonHeld}, Info: job.Info{SubmittedAt: t0}}
	if !reflect.DeepEqual(tk, wantTask) {
		t.Errorf("TaskGet =\n%+v\nwant\n%+v", tk, wantTask)
	}
}

func testJobInsertArray(t *testing.T, ctx context.Context, s *Store) {
	id := insert(t, s, array("arr", 2, 10, 3))
	tasks, err := s.TaskList(ctx, &TaskListParams{JobID: id, AfterIndex: -1})
	if err != nil {
		t.Fatal(err)
	}
	var idx []int
	for _, tk := range tasks {
		idx = append(idx, tk.Index)
		if tk.Name != "arr" || !tk.SubmittedAt.Equal(t0) || tk.State != job.Queued {
			t.Errorf("task %+v", tk)
		}
	}
	if !slices.Equal(idx, []int{2, 5, 8}) {
		t.Errorf("indexes = %v, want [2 5 8]", idx)
	}
	j, err := s.JobGet(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.TaskCount != 3 || j.Tasks[job.Queued] != 3 || j.State != job.Queued || !j.SubState.IsZero() {
		t.Errorf("JobGet = %+v", j)
	}
}

func testJobInsertInputs(t *testing.T, ctx context.Context, s *Store) {
	spec := plain("in")
	spec.Inputs = []string{"a", "b b", "c"}
	id := insert(t, s, spec)
	tasks, err := s.TaskList(ctx, &TaskListParams{JobID: id, AfterIndex: -1})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 3 {
		t.Fatalf("got %d tasks, want 3", len(tasks))
	}
	for i, tk := range tasks {
		if tk.Index != i+1 || tk.Input != spec.Inputs[i] {
			t.Errorf("task %d: index %d input %q", i, tk.Index, tk.Input)
		}
	}
}

func testJobInsertInvalid(t *testing.T, ctx context.Context, s *Store) {
	for _, p := range []*JobInsertParams{
		{Spec: plain("x"), SubmittedAt: t0, State: job.Running},
		{Spec: plain("x"), State: job.Queued},
	} {
		if _, err := s.JobInsert(ctx, p); err == nil {
			t.Errorf("JobInsert(%+v) succeeded", p)
		}
	}
}

func testJobInsertIDsNeverReused(t *testing.T, ctx context.Context, s *Store) {
	a := insert(t, s, plain("a"))
	b := insert(t, s, plain("b"))
	if err := s.JobDelete(ctx, b); err != nil {
		t.Fatal(err)
	}
	if c := insert(t, s, plain("c")); !(a < b && b < c) {
		t.Errorf("IDs %d, %d, %d: want increasing and never reused", a, b, c)
	}
}

func testJobGetNotFound(t *testing.T, ctx context.Context, s *Store) {
	_, err := s.JobGet(ctx, 7)
	wantNotFound(t, err, "no job 7")
}

func ids(jobs []*job.Job) []int64 {
	var out []int64
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func testJobListFilters(t *testing.T, ctx context.Context, s *Store) {
	mk := func(name string, labels map[string]string, at time.Time) int64 {
		spec := plain(name).WithDefaults()
		spec.Labels = labels
		id, err := s.JobInsert(ctx, &JobInsertParams{Spec: spec, SubmittedAt: at, State: job.Queued})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	a := mk("build-1", map[string]string{"team": "x", "env": "prod"}, t0)
	b := mk("build-2", map[string]string{"team": "x"}, t0.Add(time.Hour))
	c := mk("test", map[string]string{"team": "y", "env": "prod"}, t0.Add(2*time.Hour))
	done := &job.Task{JobID: b, State: job.Done, SubState: job.ExitCode(0)}
	if err := s.TasksPut(ctx, []*job.Task{done}, t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		p    JobListParams
		want []int64
	}{
		{"all", JobListParams{}, []int64{a, b, c}},
		{"glob", JobListParams{NameGlob: "build-*"}, []int64{a, b}},
		{"glob class", JobListParams{NameGlob: "build-[2-9]"}, []int64{b}},
		{"glob case", JobListParams{NameGlob: "BUILD*"}, nil},
		{"label", JobListParams{Labels: map[string]string{"team": "x"}}, []int64{a, b}},
		{"labels all", JobListParams{Labels: map[string]string{"team": "x", "env": "prod"}}, []int64{a}},
		{"label none", JobListParams{Labels: map[string]string{"team": "z"}}, nil},
		{"since", JobListParams{Since: t0.Add(time.Hour)}, []int64{b, c}},
		{"ids", JobListParams{IDs: []int64{c, a, 99}}, []int64{a, c}},
		{"states done", JobListParams{States: []job.State{job.Done}}, []int64{b}},
		{"states queued", JobListParams{States: []job.State{job.Queued}}, []int64{a, c}},
		{"states mixed", JobListParams{States: []job.State{job.Queued, job.Done}}, []int64{a, b, c}},
		{"after", JobListParams{AfterID: a}, []int64{b, c}},
		{"limit", JobListParams{Limit: 2}, []int64{a, b}},
		{"combined", JobListParams{NameGlob: "*", Labels: map[string]string{"env": "prod"}, States: []job.State{job.Queued}, AfterID: a}, []int64{c}},
	} {
		got, err := s.JobList(ctx, &tc.p)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !slices.Equal(ids(got), tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, ids(got), tc.want)
		}
	}
	j, err := s.JobGet(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != job.Done || j.SubState != job.ExitCode(0) || j.FinishedAt == nil || !j.FinishedAt.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("done job = %+v", j)
	}
}

// testJobListStatesPaging filters on state over more jobs than one page so
// that matches sit in several pages.
func testJobListStatesPaging(t *testing.T, ctx context.Context, s *Store) {
	var want []int64
	var put []*job.Task
	for i := range 3 * statePageMin {
		id := insert(t, s, plain(fmt.Sprint(i)))
		if i%97 == 0 {
			want = append(want, id)
			put = append(put, &job.Task{JobID: id, State: job.Running, Info: job.Info{Attempt: 1}})
		}
	}
	if err := s.TasksPut(ctx, put, t0); err != nil {
		t.Fatal(err)
	}
	var got []int64
	var after int64
	for {
		page, err := s.JobList(ctx, &JobListParams{States: []job.State{job.Running}, AfterID: after, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		got = append(got, ids(page)...)
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, want) {
		t.Errorf("paged Running jobs = %v, want %v", got, want)
	}
}

func testTasksPutRoundTrip(t *testing.T, ctx context.Context, s *Store) {
	id := insert(t, s, array("a", 1, 3, 1))
	code := 3
	started, finished := t0.Add(time.Second), t0.Add(time.Minute)
	tk := &job.Task{JobID: id, Index: 2, Name: "a", State: job.Failed, SubState: job.ExitCode(3), Info: job.Info{
		Attempt: 2, Worker: "w1", Host: "h1", PID: 1234, ContainerID: "c0ffee", ExitCode: &code,
		Hostname: "c0ffee", Ports: []job.PublishedPort{{Port: 80, Proto: "tcp", HostIP: "0.0.0.0", HostPort: 32768}},
		Signal: "SIGTERM", Message: "boom", SubmittedAt: t0, StartedAt: &started, FinishedAt: &finished,
		CPUTime: job.Duration(1500 * time.Millisecond), MaxRSS: 1 << 20, Stdout: "/o", Stderr: "/e",
	}}
	if err := s.TasksPut(ctx, []*job.Task{tk}, finished); err != nil {
		t.Fatal(err)
	}
	got, err := s.TaskGet(ctx, id, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, tk) {
		t.Errorf("TaskGet =\n%+v\nwant\n%+v", got, tk)
	}
}

func testTasksPutFinished(t *testing.T, ctx context.Context, s *Store) {
	tasksPutFinished(t, ctx, s, false)
}

// testTasksPutFinishedPrevKnown is testTasksPutFinished with the caller
// telling the previous state and the job's end, as the scheduler does.
func testTasksPutFinishedPrevKnown(t *testing.T, ctx context.Context, s *Store) {
	tasksPutFinished(t, ctx, s, true)
}

func tasksPutFinished(t *testing.T, ctx context.Context, s *Store, known bool) {
	id := insert(t, s, array("a", 1, 2, 1))
	prev := map[int]TaskPrev{1: {State: job.Queued}, 2: {State: job.Queued}}
	t1, t2, t3, t4 := t0.Add(1*time.Second), t0.Add(2*time.Second), t0.Add(3*time.Second), t0.Add(4*time.Second)
	finishedAt := func() *time.Time {
		j, err := s.JobGet(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return j.FinishedAt
	}
	put := func(at time.Time, ts ...*job.Task) {
		var puts []TaskPut
		for _, tk := range ts {
			p := TaskPut{Task: tk}
			if known {
				p.PrevKnown, p.Prev = true, prev[tk.Index]
				prev[tk.Index] = TaskPrev{State: tk.State, SubState: tk.SubState, Attempt: tk.Attempt}
				p.JobEnded = prev[1].State.Terminal() && prev[2].State.Terminal()
			}
			puts = append(puts, p)
		}
		if err := s.TasksPutWith(ctx, puts, at); err != nil {
			t.Fatal(err)
		}
	}
	put(t1, &job.Task{JobID: id, Index: 1, State: job.Done})
	if f := finishedAt(); f != nil {
		t.Fatalf("FinishedAt = %v with a task queued", f)
	}
	put(t2, &job.Task{JobID: id, Index: 2, State: job.Failed})
	if f := finishedAt(); f == nil || !f.Equal(t2) {
		t.Fatalf("FinishedAt = %v, want %v", f, t2)
	}
	// An update of an ended task keeps the first end time.
	put(t3, &job.Task{JobID: id, Index: 2, State: job.Failed, Info: job.Info{Message: "note"}})
	if f := finishedAt(); f == nil || !f.Equal(t2) {
		t.Fatalf("FinishedAt = %v after a later update, want %v", f, t2)
	}
	// A rerun makes the job unfinished again.
	put(t4, &job.Task{JobID: id, Index: 2, State: job.Queued, Info: job.Info{Attempt: 1}})
	if f := finishedAt(); f != nil {
		t.Fatalf("FinishedAt = %v after a rerun", f)
	}
}

func testTasksPutDeletedJob(t *testing.T, ctx context.Context, s *Store) {
	id := insert(t, s, plain("a"))
	if err := s.JobDelete(ctx, id); err != nil {
		t.Fatal(err)
	}
	other := insert(t, s, plain("b"))
	err := s.TasksPut(ctx, []*job.Task{{JobID: id, State: job.Done}, {JobID: other, State: job.Running}}, t0)
	if err != nil {
		t.Fatalf("TasksPut with a deleted job's task: %v", err)
	}
	if tk, err := s.TaskGet(ctx, other, 0); err != nil || tk.State != job.Running {
		t.Errorf("other task = %+v, %v", tk, err)
	}
}

func testTasksActive(t *testing.T, ctx context.Context, s *Store) {
	a := insert(t, s, array("a", 1, 3, 1))
	b := insert(t, s, plain("b"))
	c := insert(t, s, plain("c"))
	d := insert(t, s, array("d", 1, 2, 1))
	if err := s.TasksPut(ctx, []*job.Task{
		{JobID: a, Index: 2, State: job.Done},
		{JobID: b, State: job.Failed},
		{JobID: d, Index: 1, State: job.Running},
	}, t0); err != nil {
		t.Fatal(err)
	}
	type ref struct {
		job   int64
		index int
	}
	var got []ref
	specs := map[int64]*job.Spec{}
	err := s.TasksActive(ctx, func(at *ActiveTask) error {
		got = append(got, ref{at.Task.JobID, at.Task.Index})
		if prev, ok := specs[at.Task.JobID]; ok && prev != at.Spec {
			t.Errorf("job %d: a second *job.Spec", at.Task.JobID)
		}
		specs[at.Task.JobID] = at.Spec
		if at.Spec.Name != at.Task.Name {
			t.Errorf("task %v has spec of %q", at.Task.Ref(), at.Spec.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []ref{{a, 1}, {a, 3}, {c, 0}, {d, 1}, {d, 2}}
	if !slices.Equal(got, want) {
		t.Errorf("TasksActive = %v, want %v", got, want)
	}
	stop := errors.New("stop")
	if err := s.TasksActive(ctx, func(*ActiveTask) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("TasksActive error from fn = %v, want it passed on", err)
	}
}

func testTaskList(t *testing.T, ctx context.Context, s *Store) {
	id := insert(t, s, array("a", 1, 10, 1))
	if err := s.TasksPut(ctx, []*job.Task{
		{JobID: id, Index: 3, State: job.Running},
		{JobID: id, Index: 7, State: job.Done},
	}, t0); err != nil {
		t.Fatal(err)
	}
	list := func(p TaskListParams) []int {
		tasks, err := s.TaskList(ctx, &p)
		if err != nil {
			t.Fatal(err)
		}
		var idx []int
		for _, tk := range tasks {
			idx = append(idx, tk.Index)
		}
		return idx
	}
	for _, tc := range []struct {
		p    TaskListParams
		want []int
	}{
		{TaskListParams{JobID: id, AfterIndex: -1, Limit: 3}, []int{1, 2, 3}},
		{TaskListParams{JobID: id, AfterIndex: 8}, []int{9, 10}},
		{TaskListParams{JobID: id, AfterIndex: -1, States: []job.State{job.Running, job.Done}}, []int{3, 7}},
		{TaskListParams{JobID: id, AfterIndex: 3, States: []job.State{job.Running, job.Done}}, []int{7}},
	} {
		if got := list(tc.p); !slices.Equal(got, tc.want) {
			t.Errorf("TaskList(%+v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	_, err := s.TaskList(ctx, &TaskListParams{JobID: id + 1, AfterIndex: -1})
	wantNotFound(t, err, fmt.Sprintf("no job %d", id+1))
}

func testTaskGetNotFound(t *testing.T, ctx context.Context, s *Store) {
	a := insert(t, s, array("a", 1, 2, 1))
	p := insert(t, s, plain("p"))
	_, err := s.TaskGet(ctx, a, 3)
	wantNotFound(t, err, fmt.Sprintf("no task %d.3", a))
	_, err = s.TaskGet(ctx, a, 0)
	wantNotFound(t, err, fmt.Sprintf("no task %d", a))
	_, err = s.TaskGet(ctx, p+1, 0)
	wantNotFound(t, err, fmt.Sprintf("no job %d", p+1))
	_, err = s.TaskHistory(ctx, a, 5)
	wantNotFound(t, err, fmt.Sprintf("no task %d.5", a))
	_, err = s.ReceiveOffsets(ctx, p+1, 0)
	wantNotFound(t, err, fmt.Sprintf("no job %d", p+1))
	err = s.ReceiveOffsetsSet(ctx, a, 9, Offsets{}, Offsets{})
	wantNotFound(t, err, fmt.Sprintf("no task %d.9", a))
	err = s.OutputSizesSet(ctx, p+1, 0, Offsets{})
	wantNotFound(t, err, fmt.Sprintf("no job %d", p+1))
}

func testTaskHistory(t *testing.T, ctx context.Context, s *Store) {
	held := job.SubState{Kind: job.ReasonHeld}
	id, err := s.JobInsert(ctx, &JobInsertParams{Spec: array("a", 1, 2, 1).WithDefaults(), SubmittedAt: t0,
		State: job.QueuedHeld, SubState: held})
	if err != nil {
		t.Fatal(err)
	}
	t1, t2, t3 := t0.Add(time.Second), t0.Add(2*time.Second), t0.Add(3*time.Second)
	steps := []struct {
		at   time.Time
		task job.Task
	}{
		{t1, job.Task{JobID: id, Index: 1, State: job.Queued}},
		{t2, job.Task{JobID: id, Index: 1, State: job.Running, Info: job.Info{Attempt: 1}}},
		{t2, job.Task{JobID: id, Index: 1, State: job.Running, Info: job.Info{Attempt: 1, PID: 9}}}, // no change
		{t3, job.Task{JobID: id, Index: 1, State: job.Done, SubState: job.ExitCode(0), Info: job.Info{Attempt: 1}}},
	}
	for _, st := range steps {
		if err := s.TasksPut(ctx, []*job.Task{&st.task}, st.at); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.TaskHistory(ctx, id, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []Transition{
		{0, job.QueuedHeld, held, t0, "", nil},
		{0, job.Queued, job.SubState{}, t1, "", nil},
		{1, job.Running, job.SubState{}, t2, "", nil},
		{1, job.Done, job.ExitCode(0), t3, "", nil},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TaskHistory =\n%+v\nwant\n%+v", got, want)
	}
	got, err = s.TaskHistory(ctx, id, 2)
	if err != nil || !reflect.DeepEqual(got, want[:1]) {
		t.Errorf("untouched task history = %+v, %v; want %+v", got, err, want[:1])
	}
}

func testReceiveOffsets(t *testing.T, ctx context.Context, s *Store) {
	id := insert(t, s, array("a", 1, 2, 1))
	more := func() bool {
		j, err := s.JobGet(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return j.HasMoreData
	}
	if o, err := s.ReceiveOffsets(ctx, id, 1); err != nil || o != (Offsets{}) {
		t.Fatalf("ReceiveOffsets of a new task = %+v, %v", o, err)
	}
	if more() {
		t.Fatal("HasMoreData of a new job")
	}
	if err := s.OutputSizesSet(ctx, id, 2, Offsets{Stdout: 10, Results: 5}); err != nil {
		t.Fatal(err)
	}
	if !more() {
		t.Fatal("no HasMoreData with output not received")
	}
	if err := s.ReceiveOffsetsSet(ctx, id, 2, Offsets{Stdout: 10, Results: 3}, Offsets{Stdout: 10, Results: 5}); err != nil {
		t.Fatal(err)
	}
	if !more() {
		t.Fatal("no HasMoreData with results partly received")
	}
	if err := s.ReceiveOffsetsSet(ctx, id, 2, Offsets{Stdout: 10, Results: 5}, Offsets{Stdout: 10, Results: 5}); err != nil {
		t.Fatal(err)
	}
	if more() {
		t.Fatal("HasMoreData with everything received")
	}
	if o, err := s.ReceiveOffsets(ctx, id, 2); err != nil || o != (Offsets{Stdout: 10, Results: 5}) {
		t.Fatalf("ReceiveOffsets = %+v, %v", o, err)
	}
}

func testJobDelete(t *testing.T, ctx context.Context, s *Store) {
	spec := array("a", 1, 3, 1)
	spec.Labels = map[string]string{"k": "v"}
	id := insert(t, s, spec)
	keep := insert(t, s, spec)
	if err := s.TasksPut(ctx, []*job.Task{{JobID: id, Index: 1, State: job.Running}}, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.JobDelete(ctx, id); err != nil {
		t.Fatal(err)
	}
	_, err := s.JobGet(ctx, id)
	wantNotFound(t, err, fmt.Sprintf("no job %d", id))
	// A task's history lives in its row (tasks.history), so it goes with it.
	for _, table := range []string{"tasks", "job_labels"} {
		var n int
		if err := s.r.QueryRow(`SELECT count(*) FROM `+table+` WHERE job_id = ?`, id).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows of the deleted job left (%v)", table, n, err)
		}
	}
	if _, err := s.JobGet(ctx, keep); err != nil {
		t.Errorf("other job: %v", err)
	}
	wantNotFound(t, s.JobDelete(ctx, id), fmt.Sprintf("no job %d", id))
}

func testMeta(t *testing.T, ctx context.Context, s *Store) {
	if v, ok, err := s.MetaGet(ctx, "server_id"); err != nil || ok || v != "" {
		t.Fatalf("MetaGet of unset key = %q, %v, %v", v, ok, err)
	}
	for _, v := range []string{"one", "two"} {
		if err := s.MetaSet(ctx, "server_id", v); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := s.MetaGet(ctx, "server_id"); err != nil || !ok || got != v {
			t.Fatalf("MetaGet = %q, %v, %v; want %q", got, ok, err, v)
		}
	}
}
