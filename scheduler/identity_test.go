package scheduler

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
)

// TestClaimCarriesWork checks that only the granted claim gets the task's
// template and environment, and that the stream's copy is the key alone's
// business (the dispatcher strips it).
func TestClaimCarriesWork(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	spec := cmdSpec("secret")
	spec.Template.Env = map[string]string{"TOKEN": "s3cret"}
	b.submit(t, spec)
	w := b.take()[0]
	rep := b.s.HandleClaim(b.ctx, &dispatch.Claim{TaskKey: w.TaskKey, Worker: "w1"})
	require.True(t, rep.OK)
	require.Equal(t, "s3cret", rep.Work.Template.Env["TOKEN"])
	require.Equal(t, w.TaskKey, rep.Work.TaskKey)
	rep = b.s.HandleClaim(b.ctx, &dispatch.Claim{TaskKey: w.TaskKey, Worker: "w2"})
	require.False(t, rep.OK, "granted once")
	require.Nil(t, rep.Work, "a refused claim sees nothing of the task")
}

// TestEventsOfOthersRefused checks that a worker cannot change the record of
// a task another worker holds: not end it, not fail it, not get work
// handed over in its name.
func TestEventsOfOthersRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 2})
	id := b.submit(t, cmdSpec("a"))
	w := b.take()[0]
	b.run(t, w) // held by w1
	code := 0
	for _, kind := range []dispatch.EventKind{dispatch.EventEnded, dispatch.EventSuspended, dispatch.EventReleased, dispatch.EventStarted} {
		ev := &dispatch.Event{TaskKey: w.TaskKey, Worker: "forger", Kind: kind, Next: true,
			End: &dispatch.End{State: job.Done, SubState: job.ExitCode(0), ExitCode: &code}}
		next, err := b.s.HandleEvent(b.ctx, ev)
		require.ErrorIs(t, err, dispatch.ErrRefused, "%s", kind)
		require.Nil(t, next)
	}
	tk := b.task(t, id, 0)
	require.Equal(t, job.Running, tk.State)
	require.Equal(t, "w1", tk.Worker)
	require.Zero(t, tk.PID)

	// The holder's own end is recorded.
	b.end(t, w, 0)
	require.Equal(t, job.Done, b.task(t, id, 0).State)
}

// TestHeartbeatDrops checks that a heartbeat's reply renews the lease and
// names the attempts the worker holds without the server's grant.
func TestHeartbeatDrops(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 2})
	b.submit(t, cmdSpec("a"))
	b.submit(t, cmdSpec("b"))
	ws := b.take()
	b.run(t, ws[0]) // w1 holds the first
	stale := dispatch.TaskKey{Job: ws[0].Job, Attempt: ws[0].Attempt + 1}
	r := b.s.HandleHeartbeat(&dispatch.Heartbeat{Worker: "w1", Running: []dispatch.TaskKey{ws[0].TaskKey, ws[1].TaskKey, stale}})
	require.True(t, r.OK)
	require.Equal(t, job.Duration(b.s.cfg.Lease), r.Lease)
	require.ElementsMatch(t, []dispatch.TaskKey{ws[1].TaskKey, stale}, r.Drop, "not granted to w1")

	r = b.s.HandleHeartbeat(&dispatch.Heartbeat{Worker: "w2", Running: []dispatch.TaskKey{ws[0].TaskKey}})
	require.Equal(t, []dispatch.TaskKey{ws[0].TaskKey}, r.Drop, "w1's, not w2's")
}

// TestClaimOtherPoolRefused checks that a worker cannot claim, and so
// read, a task of a pool it is not of, even knowing its key.
func TestClaimOtherPoolRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	spec := cmdSpec("gpu job")
	spec.Pool = "gpu"
	b.submit(t, spec)
	w := b.take()[0]
	require.Equal(t, "gpu", w.Pool, "published to its pool")
	rep := b.s.HandleClaim(b.ctx, &dispatch.Claim{TaskKey: w.TaskKey, Worker: "w1"})
	require.False(t, rep.OK)
	require.Nil(t, rep.Work)
	require.Contains(t, rep.Reason, "not of pool gpu")
	b.s.HandleHeartbeat(&dispatch.Heartbeat{Worker: "g1", Pool: "gpu"})
	require.True(t, b.s.HandleClaim(b.ctx, &dispatch.Claim{TaskKey: w.TaskKey, Worker: "g1"}).OK)
}

// TestReportsWaitForLoad checks that a worker's end reported while a
// restarted server is still loading its store is recorded once loaded,
// not taken as a report of an unknown task and dropped.
func TestReportsWaitForLoad(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	id := b.submit(t, cmdSpec("a"))
	w := b.take()[0]
	b.run(t, w)
	b.s.Stop()

	s2, err := New(Config{Store: b.st, Dispatcher: b.disp, DataDir: b.dir, DefaultSlots: 1})
	require.NoError(t, err)
	hb := s2.HandleHeartbeat(&dispatch.Heartbeat{Worker: "w1", Pool: job.PoolDefault, Running: []dispatch.TaskKey{w.TaskKey}})
	require.True(t, hb.OK, "the lease is renewed while loading")
	require.Empty(t, hb.Drop)
	code := 0
	done := make(chan error, 1)
	go func() {
		_, err := s2.HandleEvent(b.ctx, &dispatch.Event{TaskKey: w.TaskKey, Worker: "w1", Kind: dispatch.EventEnded,
			End: &dispatch.End{State: job.Done, SubState: job.ExitCode(0), ExitCode: &code}})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("answered before the store was loaded: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, s2.Start(b.ctx))
	t.Cleanup(s2.Stop)
	require.NoError(t, <-done)
	require.Equal(t, job.Done, b.task(t, id, 0).State)
}

// TestClaimBeforeHeartbeatHandedBack checks that a claim from a worker the
// server has not heard from since it started (a restart) hands the work
// back instead of refusing it, which would drop the work message.
func TestClaimBeforeHeartbeatHandedBack(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	b.submit(t, cmdSpec("a"))
	w := b.take()[0]
	rep := b.s.HandleClaim(b.ctx, &dispatch.Claim{TaskKey: w.TaskKey, Worker: "new"})
	require.False(t, rep.OK)
	require.True(t, rep.Elsewhere, "handed back, not dropped: %s", rep.Reason)
	b.s.HandleHeartbeat(&dispatch.Heartbeat{Worker: "new", Pool: job.PoolDefault})
	require.True(t, b.s.HandleClaim(b.ctx, &dispatch.Claim{TaskKey: w.TaskKey, Worker: "new"}).OK)
}
