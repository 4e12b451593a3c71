package scheduler

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu      sync.Mutex
	commits int
	changes []string // "pool prev→state"
	exited  []time.Time
}

func (r *recorder) Committed(n int, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.commits++
}

func (r *recorder) TaskChanged(pool string, t *job.Task, prev job.State, exited, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.changes = append(r.changes, pool+" "+string(prev)+"→"+string(t.State))
	if t.State.Terminal() {
		r.exited = append(r.exited, exited)
	}
}

func TestStatsAndObserver(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	b := setup(t, Config{DefaultSlots: 1, Observer: rec})
	first := b.submit(t, cmdSpec("a"))
	b.submit(t, cmdSpec("b"))
	held := cmdSpec("c")
	held.Hold = true
	b.submit(t, held)
	arr := cmdSpec("arr")
	arr.Array = &job.Array{Begin: 1, End: 3, Step: 1}
	b.submit(t, arr)

	ws := b.take()
	require.Len(t, ws, 1, "one slot")
	require.Equal(t, first, ws[0].Job)
	b.run(t, ws[0])

	stats := b.s.Stats()
	require.Len(t, stats, 1)
	p := stats[0]
	require.Equal(t, job.PoolDefault, p.Pool)
	require.Equal(t, 1, p.Slots)
	require.Equal(t, 1, p.Used)
	require.Equal(t, map[job.State]int{job.Running: 1, job.Queued: 4, job.QueuedHeld: 1}, p.Tasks)
	require.Equal(t, map[job.State]int{job.Running: 1, job.Queued: 2, job.QueuedHeld: 1}, p.Jobs)
	require.Equal(t, 4, p.Queued, "b and the array's three; not the held one")
	require.False(t, p.OldestQueued.IsZero())
	counts, ok := b.s.JobTasks(first)
	require.True(t, ok)
	require.Equal(t, map[job.State]int{job.Running: 1}, counts)

	exit := time.Now().Add(-time.Second)
	code := 0
	_, err := b.s.HandleEvent(b.ctx, &dispatch.Event{TaskKey: ws[0].TaskKey, Worker: "w1", Kind: dispatch.EventEnded, Time: exit,
		End: &dispatch.End{State: job.Done, SubState: job.ExitCode(0), ExitCode: &code}})
	require.NoError(t, err)
	_, ok = b.s.JobTasks(first)
	require.False(t, ok, "an ended job is the store's")

	rec.mu.Lock()
	defer rec.mu.Unlock()
	require.Positive(t, rec.commits)
	require.Contains(t, rec.changes, "default Queued→Running")
	require.Contains(t, rec.changes, "default Running→Done")
	require.Len(t, rec.exited, 1)
	require.True(t, rec.exited[0].Equal(exit), "the worker's exit time")
}
