package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/testenv/fleet"
	"github.com/berth-run/berth/job"
)

// TestFleetHosts runs mixed jobs (rerunnable and not) on a fleet of
// containers (internal/testenv/fleet: a 3-node NATS JetStream cluster with
// R3 streams, the server, three workers) while it kills the leader of the
// work stream's NATS node and brings it back, then kills and restarts the
// server, then briefly partitions, stops and freezes the workers. No worker
// is lost, so every job ends Done having run once, to its end, as its
// markers show.
func TestFleetHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: starts a fleet of seven containers")
	}
	t.Parallel()
	start := time.Now()
	f := fleet.Start(t, fleet.Config{})
	t.Logf("fleet up in %v", time.Since(start).Round(time.Millisecond))
	ctx := t.Context()
	c := f.Client()

	var jobs []fleet.Submitted
	submit := func(n int) {
		for i := range n {
			rerun := len(jobs)%2 == 0
			secs := []string{"1", "1.5", "2", "3"}[(len(jobs)+i)%4]
			j, err := c.Submit(ctx, fleet.MarkedJob(secs, secs, rerun))
			require.NoError(t, err)
			jobs = append(jobs, fleet.Submitted{ID: j.ID, Tasks: 1, Rerunnable: rerun})
		}
	}
	running := func(n int) func() bool {
		return func() bool {
			p, err := c.Jobs(ctx, client.ListParams{States: []job.State{job.Running}})
			return err == nil && len(p.Jobs) >= n
		}
	}

	// A NATS node dies while jobs run and more are submitted; it comes
	// back with its store.
	submit(18)
	require.Eventually(t, running(4), 30*time.Second, 100*time.Millisecond, "jobs run")
	peers := f.StreamPeers("BERTH_WORK")
	require.Len(t, peers, 3, "the work stream has three replicas: %v", peers)
	leader := peers[0]
	t.Logf("killing NATS node %s (the work stream's leader) at %v", leader, time.Since(start).Round(time.Millisecond))
	f.Kill(leader)
	submit(12)
	time.Sleep(2 * time.Second)
	f.Start(leader)
	t.Logf("NATS node %s back at %v", leader, time.Since(start).Round(time.Millisecond))

	// The server dies with work running and queued; it comes back on its
	// data directory.
	submit(12)
	require.Eventually(t, running(4), 30*time.Second, 100*time.Millisecond, "jobs run")
	f.Kill(fleet.Server)
	t.Logf("server killed at %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second)
	f.StartServer()
	t.Logf("server back at %v", time.Since(start).Round(time.Millisecond))
	submit(6)

	// Every worker faulted at once, briefly (well within the worker
	// timeout): w1 cut off the network, w2's berth process stopped, w3's
	// whole container frozen. They resume; nothing is lost or run again.
	submit(12)
	require.Eventually(t, running(4), 30*time.Second, 100*time.Millisecond, "jobs run")
	w1, w2, w3 := f.Workers[0], f.Workers[1], f.Workers[2]
	f.Disconnect(w1)
	f.StopProcess(w2)
	f.Pause(w3)
	t.Logf("workers faulted at %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	f.Connect(w1)
	f.ContProcess(w2)
	f.Unpause(w3)
	t.Logf("workers back at %v", time.Since(start).Round(time.Millisecond))
	submit(6)

	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	res, err := c.Wait(ctx, ids, false, 2*time.Minute)
	require.NoError(t, err)
	require.False(t, res.TimedOut, "all %d jobs ended", len(ids))
	t.Logf("all %d jobs ended at %v", len(ids), time.Since(start).Round(time.Millisecond))

	rep, err := fleet.Check(ctx, c, f.Marks, jobs)
	require.NoError(t, err)
	t.Log(rep)
	require.Empty(t, rep.Violations)
	// No worker was lost: each job ran once, to its end.
	require.Equal(t, rep.Tasks, rep.Done, rep.String())
	require.Zero(t, rep.Rerun, rep.String())
	require.Zero(t, rep.Killed, rep.String())
	for _, j := range jobs {
		tk, err := c.Task(ctx, job.Ref{Job: j.ID})
		require.NoError(t, err)
		require.Equal(t, 1, tk.Attempt, "job %d ran in one attempt", j.ID)
		require.Contains(t, f.Workers, tk.Worker, "job %d", j.ID)
	}
}

// faultFor is how long TestFleetHostsLeases keeps its workers faulted:
// longer than the lease, the kill grace and the margin, so that the server
// runs the tasks of the faulted workers again elsewhere meanwhile.
const faultFor = dispatch.WorkerTimeout + 10*time.Second

// TestFleetHostsLeases faults three workers at once for longer than their
// lease, each its own way: w1 cut off the network, the berth process of w2
// stopped (SIGSTOP; its jobs run on), w3's container frozen (docker pause).
// A fourth worker takes over: rerunnable jobs run again there and end
// Done, the others end Failed LOST. The first attempts, which would sleep
// 60 s, are killed: by the worker's own fence or its watchdog before the
// second attempt starts (no END after another attempt's START), and at the
// latest by the worker once it is back (their processes are gone).
func TestFleetHostsLeases(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: faults workers for longer than their lease")
	}
	t.Parallel()
	start := time.Now()
	f := fleet.Start(t, fleet.Config{Workers: 4, Slots: 3})
	ctx := t.Context()
	c := f.Client()
	w1, w2, w3, spare := f.Workers[0], f.Workers[1], f.Workers[2], f.Workers[3]
	// The first attempts fill w1..w3; the spare joins after.
	f.Kill(spare)
	var jobs []fleet.Submitted
	for i := range 9 {
		rerun := i%2 == 0
		j, err := c.Submit(ctx, fleet.MarkedJob("60", "3", rerun))
		require.NoError(t, err)
		jobs = append(jobs, fleet.Submitted{ID: j.ID, Tasks: 1, Rerunnable: rerun})
	}
	require.Eventually(t, func() bool {
		p, err := c.Jobs(ctx, client.ListParams{States: []job.State{job.Running}})
		return err == nil && len(p.Jobs) == len(jobs)
	}, 60*time.Second, 100*time.Millisecond, "every first attempt runs")
	f.Start(spare)

	f.Disconnect(w1)
	f.StopProcess(w2)
	f.Pause(w3)
	t.Logf("workers faulted at %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(faultFor)
	f.Connect(w1)
	f.ContProcess(w2)
	f.Unpause(w3)
	t.Logf("workers back at %v", time.Since(start).Round(time.Millisecond))

	// Back, each worker stops what the server no longer gives it.
	staleAlive := func() []string {
		marks, err := fleet.ReadMarks(f.Marks)
		if err != nil {
			return []string{err.Error()}
		}
		var alive []string
		for k, runs := range marks {
			for _, r := range runs {
				if r.Attempt == 1 && f.Alive(r.Host, r.PID) {
					alive = append(alive, fmt.Sprintf("%s: %v", k, r))
				}
			}
		}
		slices.Sort(alive)
		return alive
	}
	if !assert.Eventually(t, func() bool { return len(staleAlive()) == 0 }, 10*time.Second, 200*time.Millisecond) {
		t.Fatalf("stale first attempts still run 10 s after their workers are back: %v", staleAlive())
	}

	ids := make([]int64, len(jobs))
	for i, j := range jobs {
		ids[i] = j.ID
	}
	res, err := c.Wait(ctx, ids, false, 2*time.Minute)
	require.NoError(t, err)
	require.False(t, res.TimedOut, "all %d jobs ended", len(ids))
	rep, err := fleet.Check(ctx, c, f.Marks, jobs)
	require.NoError(t, err)
	t.Log(rep)
	require.Empty(t, rep.Violations)
	require.Equal(t, len(jobs), rep.Killed, "every first attempt was killed: %s", rep)
	for _, j := range jobs {
		tk, err := c.Task(ctx, job.Ref{Job: j.ID})
		require.NoError(t, err)
		if j.Rerunnable {
			require.Equal(t, job.Done, tk.State, "job %d", j.ID)
			require.Equal(t, spare, tk.Worker, "job %d ran again on the spare", j.ID)
		} else {
			require.Equal(t, job.Failed, tk.State, "job %d", j.ID)
			require.Equal(t, job.ReasonLost, tk.SubState.Kind, "job %d", j.ID)
			require.Equal(t, 1, tk.Attempt, "job %d", j.ID)
		}
	}
}
