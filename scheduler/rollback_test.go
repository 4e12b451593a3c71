package scheduler

import (
	"testing"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

// TestFullDiskRollsBack runs the scheduler on a real SQLite file on a small
// tmpfs and fills it: a report whose commit fails is not acknowledged and
// leaves the scheduler as it was, so that the worker's retry, once space is
// back, is recorded (not taken as a repeat); a claim whose commit fails is
// refused and its task dispatched again; after a restart nothing runs twice.
func TestFullDiskRollsBack(t *testing.T) {
	t.Parallel()
	disk := testenv.SmallDisk(t, 4<<20)
	b := setupIn(t, disk, Config{DefaultSlots: 2})
	first := b.submit(t, cmdSpec("first"))
	second := b.submit(t, cmdSpec("second"))
	ws := b.take()
	require.Len(t, ws, 2)
	require.Equal(t, first, ws[0].Job)
	b.run(t, ws[0])
	_, err := b.s.HandleEvent(b.ctx, &dispatch.Event{TaskKey: ws[0].TaskKey, Worker: "w1", Kind: dispatch.EventStarted, PID: 42})
	require.NoError(t, err)

	filler := testenv.FillDisk(t, disk)
	code := 0
	ended := &dispatch.Event{TaskKey: ws[0].TaskKey, Worker: "w1", Kind: dispatch.EventEnded,
		End: &dispatch.End{State: job.Done, SubState: job.ExitCode(0), ExitCode: &code}}
	for range 2 { // the worker's retry fails as long as the disk is full
		_, err = b.s.HandleEvent(b.ctx, ended)
		require.Error(t, err, "the end cannot be committed on a full disk")
	}
	rep := b.s.HandleClaim(b.ctx, &dispatch.Claim{TaskKey: ws[1].TaskKey, Worker: "w1", Host: "h"})
	require.False(t, rep.OK, "a claim that cannot be committed is refused")
	tk := b.task(t, first, 0)
	require.Equal(t, job.Running, tk.State)
	require.Equal(t, job.Queued, b.task(t, second, 0).State)
	// The heartbeat of the worker still running it loses nothing.
	b.s.HandleHeartbeat(&dispatch.Heartbeat{Worker: "w1", Running: []dispatch.TaskKey{ws[0].TaskKey}})

	filler.Free()
	// The worker retries (changes are refused for a moment after a failure).
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, err = b.s.HandleEvent(b.ctx, ended); err == nil {
			break
		}
	}
	require.NoError(t, err, "the retry once space is back is recorded")
	tk = b.task(t, first, 0)
	require.Equal(t, job.Done, tk.State)
	require.Equal(t, 1, tk.Attempt)
	require.Equal(t, 42, tk.PID, "the PID told before the failure is kept")
	_, err = b.s.HandleEvent(b.ctx, ended)
	require.NoError(t, err, "a repeat is acknowledged")

	// The refused claim's task is dispatched again, with the same attempt.
	var again []*dispatch.Work
	for deadline := time.Now().Add(20 * time.Second); len(again) == 0 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		again = b.take()
	}
	require.Len(t, again, 1)
	require.Equal(t, ws[1].TaskKey, again[0].TaskKey)
	b.run(t, again[0])
	b.end(t, again[0], 0)

	b.s.Stop()
	b.start(t, Config{DefaultSlots: 2})
	require.Empty(t, b.take(), "nothing runs again after a restart")
	for _, id := range []int64{first, second} {
		j, err := b.st.JobGet(b.ctx, id)
		require.NoError(t, err)
		require.Equal(t, job.Done, j.State)
	}
}
