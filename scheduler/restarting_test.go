package scheduler

import (
	"testing"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

// TestRestartingOnWorker checks an attempt its executor restarts where it
// ran (a container's restart policy): Requeued RESTARTING n while it
// restarts, Running again after; it keeps its slot and its worker (not
// queued again, not held, terminated through the worker), survives a
// restart of the scheduler, and its end is recorded.
func TestRestartingOnWorker(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	id := b.submit(t, cmdSpec("restarts"))
	w := b.take()[0]
	b.run(t, w)
	other := b.submit(t, cmdSpec("waits"))

	event := func(kind dispatch.EventKind, restarts int) {
		t.Helper()
		_, err := b.s.HandleEvent(b.ctx, &dispatch.Event{TaskKey: w.TaskKey, Worker: "w1", Kind: kind, Restarts: restarts})
		require.NoError(t, err)
	}
	event(dispatch.EventRequeued, 1)
	tk := b.task(t, id, 0)
	require.Equal(t, job.Requeued, tk.State)
	require.Equal(t, job.SubState{Kind: job.ReasonRestarting, Value: "1"}, tk.SubState)
	require.Equal(t, 1, tk.Attempt)
	require.Empty(t, b.take(), "the slot is still held: nothing else is dispatched")

	_, err := b.s.Control(b.ctx, job.Ref{Job: id}, job.Hold)
	require.ErrorIs(t, err, job.ErrInvalidState, "a restarting task is not queued: it cannot be held")

	event(dispatch.EventRunning, 1)
	require.Equal(t, job.Running, b.task(t, id, 0).State)
	event(dispatch.EventRequeued, 2)

	// A new scheduler keeps the attempt on its worker.
	b.s.Stop()
	b.start(t, Config{DefaultSlots: 1})
	require.Empty(t, b.take(), "the restarting task is neither dispatched again nor frees its slot")
	require.Equal(t, job.SubState{Kind: job.ReasonRestarting, Value: "2"}, b.task(t, id, 0).SubState)

	// Terminate goes to the worker.
	_, err = b.s.Control(b.ctx, job.Ref{Job: id}, job.Terminate)
	require.NoError(t, err)
	require.Len(t, b.disp.controls, 1)
	require.Equal(t, job.Terminate, b.disp.controls[0].Action)

	b.end(t, w, 3)
	tk = b.task(t, id, 0)
	require.Equal(t, job.Failed, tk.State)
	require.Equal(t, job.ExitCode(3), tk.SubState)
	ws := b.take()
	require.Len(t, ws, 1, "the slot is free again")
	require.Equal(t, other, ws[0].Job)
}
