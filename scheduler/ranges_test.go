package scheduler

import (
	"testing"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/store"
	"github.com/stretchr/testify/require"
)

// jobTasks returns a job's task counts as the store reports them.
func (b *bundle) jobTasks(t *testing.T, id int64) map[job.State]int {
	t.Helper()
	j, err := b.st.JobGet(b.ctx, id)
	require.NoError(t, err)
	return j.Tasks
}

// indexes returns the task indexes of works.
func indexes(ws []*dispatch.Work) []int {
	out := make([]int, len(ws))
	for i, w := range ws {
		out[i] = w.Index
	}
	return out
}

// A ten-million-task array is kept as ranges: submitted held, released,
// run in part, addressed by index, reloaded and stopped, its counts stay
// right in the store and in memory, and only the tasks started or
// addressed are tasks of their own.
func TestArrayRanges(t *testing.T) {
	t.Parallel()
	const n = 10_000_000
	b := setup(t, Config{DefaultSlots: 2})
	spec := cmdSpec("big")
	spec.Array = &job.Array{Begin: 1, End: n, Step: 1}
	spec.Hold = true
	id := b.submit(t, spec)
	require.Empty(t, b.take())
	require.Equal(t, map[job.State]int{job.QueuedHeld: n}, b.jobTasks(t, id))
	require.Equal(t, job.QueuedHeld, b.task(t, id, n/2).State)

	_, err := b.s.Control(b.ctx, job.Ref{Job: id}, job.Release)
	require.NoError(t, err)
	ws := b.take()
	require.Equal(t, []int{1, 2}, indexes(ws))
	b.run(t, ws[0])
	b.run(t, ws[1])
	b.end(t, ws[0], 0)
	ws = append(ws[1:], b.take()...)
	require.Equal(t, []int{2, 3}, indexes(ws))
	require.Equal(t, map[job.State]int{job.Done: 1, job.Running: 1, job.Queued: n - 2}, b.jobTasks(t, id))

	// One task held on its own, then one stopped on its own.
	_, err = b.s.Control(b.ctx, job.Ref{Job: id, Index: 7, HasIndex: true}, job.Hold)
	require.NoError(t, err)
	_, err = b.s.Control(b.ctx, job.Ref{Job: id, Index: 9, HasIndex: true}, job.Terminate)
	require.NoError(t, err)
	require.Equal(t, job.QueuedHeld, b.task(t, id, 7).State)
	require.Equal(t, job.ReasonCanceled, b.task(t, id, 9).SubState.Kind)
	want := map[job.State]int{job.Done: 1, job.Running: 1, job.QueuedHeld: 1, job.Failed: 1, job.Queued: n - 4}
	require.Equal(t, want, b.jobTasks(t, id))
	mem, ok := b.s.JobTasks(id)
	require.True(t, ok)
	require.Equal(t, want, mem)

	// A page of tasks merges rows and ranges.
	page, err := b.st.TaskList(b.ctx, &store.TaskListParams{JobID: id, AfterIndex: 5, Limit: 5})
	require.NoError(t, err)
	var got []job.State
	for _, tk := range page {
		got = append(got, tk.State)
	}
	require.Equal(t, []int{6, 7, 8, 9, 10}, []int{page[0].Index, page[1].Index, page[2].Index, page[3].Index, page[4].Index})
	require.Equal(t, []job.State{job.Queued, job.QueuedHeld, job.Queued, job.Failed, job.Queued}, got)

	// A restart (task 3 was dispatched, not claimed: it goes again).
	b.s.Stop()
	b.start(t, Config{DefaultSlots: 2})
	require.Equal(t, want, b.jobTasks(t, id))
	mem, _ = b.s.JobTasks(id)
	require.Equal(t, want, mem)
	ws2 := b.take()
	require.Equal(t, []int{3}, indexes(ws2), "task 2 still holds a slot")
	b.run(t, ws2[0])

	// Stopped: the tasks not started fail as one change; the running end
	// through their worker.
	events, cancel := b.s.Subscribe(16)
	defer cancel()
	_, err = b.s.Control(b.ctx, job.Ref{Job: id}, job.Terminate)
	require.NoError(t, err)
	ev := <-events
	for ev.Tasks == 0 { // task 7, held, first
		ev = <-events
	}
	require.Equal(t, n-5, ev.Tasks) // all but 1, 2, 3, 7 and 9
	require.Equal(t, job.Failed, ev.State)
	want = map[job.State]int{job.Done: 1, job.Running: 2, job.Failed: n - 3}
	require.Equal(t, want, b.jobTasks(t, id))
	require.Len(t, b.disp.controls, 2)
	tk := b.task(t, id, n)
	require.Equal(t, job.Failed, tk.State)
	require.Equal(t, job.ReasonCanceled, tk.SubState.Kind)
	require.NotNil(t, tk.FinishedAt)
	for _, w := range []*dispatch.Work{ws[0], ws2[0]} { // tasks 2 and 3
		w := *w
		w.Attempt = 1
		b.end(t, &w, 1)
	}
	j, err := b.st.JobGet(b.ctx, id)
	require.NoError(t, err)
	require.Equal(t, job.Failed, j.State, "%v", j.Tasks)
	require.NotNil(t, j.FinishedAt)
	require.Equal(t, map[job.State]int{job.Done: 1, job.Failed: n - 1}, j.Tasks)
	_, ok = b.s.JobTasks(id)
	require.False(t, ok, "ended")
}

// An array with a step and max-parallel runs its indexes in order, no more
// than max-parallel at once, across ranges split by tasks addressed on
// their own; a dependent array waits, then runs.
func TestArrayRangesStepMaxParallel(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 8})
	first := b.submit(t, cmdSpec("first"))
	spec := cmdSpec("stepped")
	spec.Array = &job.Array{Begin: 10, End: 30, Step: 5} // 10 15 20 25 30
	spec.MaxParallel = 2
	spec.After = []int64{first}
	id := b.submit(t, spec)
	ws := b.take()
	require.Equal(t, []int{0}, indexes(ws))
	tk := b.task(t, id, 20)
	require.Equal(t, job.ReasonDependsOn, tk.SubState.Kind)
	_, err := b.s.Control(b.ctx, job.Ref{Job: id, Index: 15, HasIndex: true}, job.Hold)
	require.NoError(t, err)
	_, err = b.st.TaskGet(b.ctx, id, 11)
	require.ErrorIs(t, err, job.ErrNotFound)

	b.run(t, ws[0])
	b.end(t, ws[0], 0)
	require.Empty(t, b.task(t, id, 20).SubState.Kind, "no longer waiting")
	var ran []int
	for {
		ws := b.take()
		if len(ws) == 0 {
			break
		}
		require.LessOrEqual(t, len(ws), 2)
		for _, w := range ws {
			ran = append(ran, w.Index)
			b.run(t, w)
			b.end(t, w, 0)
		}
	}
	require.Equal(t, []int{10, 20, 25, 30}, ran)
	require.Equal(t, map[job.State]int{job.Done: 4, job.QueuedHeld: 1}, b.jobTasks(t, id))
	_, err = b.s.Control(b.ctx, job.Ref{Job: id}, job.Release)
	require.NoError(t, err)
	ws = b.take()
	require.Equal(t, []int{15}, indexes(ws))
}
