package scheduler

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/job"
)

// TestSweep: a sweep removes the rows and files of the jobs ended before
// its time, and never a running, queued or held job, nor one ended later.
func TestSweep(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	events, cancel := b.s.Subscribe(64)
	defer cancel()
	ended := b.submit(t, cmdSpec("ended"))
	ws := b.take()
	require.Len(t, ws, 1)
	b.run(t, ws[0])
	b.end(t, ws[0], 0)
	running := b.submit(t, cmdSpec("running"))
	ws = b.take()
	require.Len(t, ws, 1)
	b.run(t, ws[0])
	queued := b.submit(t, cmdSpec("queued")) // no slot free
	held := cmdSpec("held")
	held.Hold = true
	heldID := b.submit(t, held)
	for _, id := range []int64{ended, running, queued, heldID} {
		require.NoError(t, os.MkdirAll(b.dir.JobDir(id), 0o700))
		require.NoError(t, os.WriteFile(b.dir.TaskFile(id, 0, "stdout"), []byte("out"), 0o600))
	}

	n, err := b.s.Sweep(b.ctx, time.Now().Add(-time.Hour))
	require.NoError(t, err)
	require.Zero(t, n, "ended less than an hour ago")

	n, err = b.s.Sweep(b.ctx, time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = b.st.JobGet(b.ctx, ended)
	require.ErrorIs(t, err, job.ErrNotFound)
	require.NoDirExists(t, b.dir.JobDir(ended))
	for _, id := range []int64{running, queued, heldID} {
		_, err := b.st.JobGet(b.ctx, id)
		require.NoError(t, err, "job %d", id)
		require.FileExists(t, b.dir.TaskFile(id, 0, "stdout"))
	}
	ok, err := b.st.JobDeleteEnded(b.ctx, running)
	require.NoError(t, err)
	require.False(t, ok, "the store refuses to delete an unended job")
	var removed bool
	for len(events) > 0 {
		if e := <-events; e.Job == ended && e.Removed {
			removed = true
		}
	}
	require.True(t, removed, "the removal is announced")
}
