package store

import (
	"context"
	"testing"
	"time"

	"github.com/berth-run/berth/job"
)

// BenchmarkJobInsertArray100k inserts one array job of 100,000 tasks per
// iteration and reports tasks/s; the target is well over 20,000.
func BenchmarkJobInsertArray100k(b *testing.B) {
	const n = 100_000
	s := setup(b)
	ctx := context.Background()
	p := &JobInsertParams{Spec: array("big", 1, n, 1).WithDefaults(), SubmittedAt: t0, State: job.Queued}
	start := time.Now()
	for b.Loop() {
		if _, err := s.JobInsert(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "tasks/s")
}

// BenchmarkTasksPut1000 writes a batch of 1,000 state changes of one array.
func BenchmarkTasksPut1000(b *testing.B) {
	const n = 1000
	s := setup(b)
	ctx := context.Background()
	id := insert(b, s, array("a", 1, n, 1))
	tasks := make([]*job.Task, n)
	for i := range tasks {
		tasks[i] = &job.Task{JobID: id, Index: i + 1}
	}
	states := []job.State{job.Running, job.Done, job.Queued}
	start := time.Now()
	i := 0
	for b.Loop() {
		for _, t := range tasks {
			t.State = states[i%len(states)]
			t.Attempt = i
		}
		i++
		if err := s.TasksPut(ctx, tasks, t0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "tasks/s")
}

// BenchmarkJobList lists 1,000 jobs of 100 tasks each.
func BenchmarkJobList(b *testing.B) {
	s := setup(b)
	ctx := context.Background()
	for range 1000 {
		insert(b, s, array("a", 1, 100, 1))
	}
	for b.Loop() {
		jobs, err := s.JobList(ctx, &JobListParams{})
		if err != nil || len(jobs) != 1000 {
			b.Fatal(len(jobs), err)
		}
	}
}

// BenchmarkTaskEndAndGrant writes what the scheduler commits for each short
// task of an array run two at a time: one task's end (with its output
// sizes) and the grant of the next, in one transaction.
func BenchmarkTaskEndAndGrant(b *testing.B) {
	const n = 1000
	s := setup(b)
	ctx := context.Background()
	var tasks []*job.Task
	newJob := func() {
		id := insert(b, s, array("a", 1, n, 1))
		tasks = make([]*job.Task, n)
		for i := range tasks {
			tasks[i] = &job.Task{JobID: id, Index: i + 1, State: job.Queued, Info: job.Info{Stdout: "/data/jobs/1/out", Stderr: "/data/jobs/1/err"}}
		}
	}
	put := func(t *job.Task, st job.State, sizes *Offsets) TaskPut {
		p := TaskPut{Task: t, Sizes: sizes, PrevKnown: true, Prev: TaskPrev{State: t.State, Attempt: t.Attempt}}
		t.State = st
		if st == job.Running {
			t.Attempt++
		}
		return p
	}
	newJob()
	code := 0
	i := 0
	for b.Loop() {
		if i == n-2 {
			b.StopTimer()
			newJob()
			i = 0
			b.StartTimer()
		}
		end, next := tasks[i], tasks[i+2]
		end.State, end.ExitCode = job.Running, &code
		puts := []TaskPut{put(end, job.Done, &Offsets{}), put(next, job.Running, nil)}
		if err := s.TasksPutWith(ctx, puts, t0); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
