package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/internal/testenv/fleet"
	"github.com/berth-run/berth/job"
)

// fleetJob submits a job that marks each run's start and end in marks
// (fleet.Marker), prints to both streams, writes a result and takes a
// little while.
func fleetJob(t *testing.T, c *client.Client, marks string, spec job.Spec) int64 {
	t.Helper()
	script := fleet.Marker(marks, "START") + `; sleep 0.3; echo "out $BERTH_JOB_ID"; echo "err $BERTH_JOB_ID" >&2; ` +
		`echo '{"job": '$BERTH_JOB_ID'}' > "$BERTH_RESULT"; ` + fleet.Marker(marks, "END")
	spec.Template = job.Template{Command: "sh", Args: []string{"-c", script}, Rerunnable: true}
	j, err := c.Submit(context.Background(), spec)
	require.NoError(t, err)
	return j.ID
}

// runs returns the runs of a job's task as its markers tell.
func runs(t *testing.T, marks string, id int64) []fleet.Run {
	t.Helper()
	rs, err := fleet.ReadTask(marks, fleet.TaskKey{Job: id})
	require.NoError(t, err)
	return rs
}

// tally returns the PIDs of runs, and how many of them ended.
func tally(rs []fleet.Run) (pids []int, ended int) {
	for _, r := range rs {
		pids = append(pids, r.PID)
		if r.Ended() {
			ended++
		}
	}
	return pids, ended
}

// TestFleet runs 200 jobs on two remote workers (separate processes with
// their own state directories, joined through the server's NATS), kills one
// with SIGKILL mid-job, then kills and restarts the server with the other
// attached. Every job ends Done with its output on the server; the killed
// worker's jobs ran again on the other one, and no job ran twice at once.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for the lost worker's heartbeat timeout")
	}
	t.Parallel()
	s := testenv.StartServer(t, "--worker", "none", "--slots", "8", "--nats-listen", "127.0.0.1:0")
	c := s.Client()
	ctx := context.Background()
	marks := testenv.ShortTempDir(t)
	a := s.StartWorker(t, "wa", "--slots", "4", "--executor", "process", "--label", "zone=a")
	wb := s.StartWorker(t, "wb", "--slots", "4", "--executor", "process", "--label", "zone=b")

	const total = 200
	ids := make([]int64, total)
	for i := range ids {
		ids[i] = fleetJob(t, c, marks, job.Spec{})
	}
	// Kill a mid-job once a quarter is done.
	require.Eventually(t, func() bool {
		p, err := c.Jobs(ctx, client.ListParams{States: []job.State{job.Done}, Limit: total})
		return err == nil && len(p.Jobs) >= total/4
	}, 60*time.Second, 20*time.Millisecond, "a quarter done\n%s", s.Log())
	a.Kill()
	// What the server still believes runs on the dead worker: nothing can
	// start there any more, and its timeout has not passed yet.
	var onA []int64
	for _, id := range ids {
		if tk := taskOf(t, s, fmt.Sprint(id)); tk.State == job.Running && tk.Worker == "wa" {
			onA = append(onA, id)
		}
	}
	// Its jobs die with it: none can run on alongside its rerun.
	for _, id := range onA {
		pids, _ := tally(runs(t, marks, id))
		for _, pid := range pids {
			require.Eventually(t, func() bool { return !alive(pid) }, 5*time.Second, 10*time.Millisecond,
				"job %d's process %d outlived its killed worker", id, pid)
		}
	}

	r := s.Berth("", append([]string{"wait", "--timeout", "120s"}, refs(ids)...)...)
	require.Equal(t, 0, r.Code, "all jobs Done: %s\n%s\n%s", r.Stdout+r.Stderr, s.Log(), wb.Log())
	perWorker := map[string]int{}
	rerun := 0
	for _, id := range ids {
		tk := taskOf(t, s, fmt.Sprint(id))
		perWorker[tk.Worker]++
		rs := runs(t, marks, id)
		pids, ended := tally(rs)
		// A run on the killed worker may have finished just before the
		// kill, its end not yet reported: it is then run again. Never two
		// at once.
		require.True(t, ended >= 1 && ended <= tk.Attempt, "job %d: %d runs ended in %d attempts", id, ended, tk.Attempt)
		require.Empty(t, fleet.Overlaps(rs), "job %d ran twice at once: %v", id, rs)
		// An attempt the killed worker claimed may have died before its
		// script started: at most one start per attempt, the last one sure.
		require.True(t, len(pids) >= 1 && len(pids) <= tk.Attempt, "job %d: %d starts in %d attempts", id, len(pids), tk.Attempt)
		if tk.Attempt > 1 {
			rerun++
			require.Equal(t, "wb", tk.Worker, "job %d re-ran on the other worker", id)
			require.Contains(t, onA, id, "job %d re-ran but was not on the killed worker", id)
		}
		out := s.Berth("", "logs", "--stdout", fmt.Sprint(id))
		require.Equal(t, fmt.Sprintf("out %d\n", id), out.Stdout, "job %d's stdout reached the server", id)
		// The times came with it: both lines carry theirs.
		stamped := s.Berth("", "logs", "-t", fmt.Sprint(id))
		require.Equal(t, 0, stamped.Code, stamped.Stderr)
		require.Regexp(t, fmt.Sprintf(`^(\S+Z (out|err) %d\n){2}$`, id), stamped.Stdout)
		errOut := s.Berth("", "logs", "--stderr", fmt.Sprint(id))
		require.Equal(t, fmt.Sprintf("err %d\n", id), errOut.Stdout)
	}
	require.NotEmpty(t, onA, "jobs ran on wa when it was killed")
	// A job of onA may have ended just before the kill; the others re-ran.
	require.NotZero(t, rerun, "the killed worker's jobs re-ran")
	require.Greater(t, perWorker["wa"], 0, "work spread over both workers: %v", perWorker)
	require.Greater(t, perWorker["wb"], 0, "work spread over both workers: %v", perWorker)
	recv := s.Berth("", "receive", "--json", fmt.Sprint(ids[0]))
	require.Contains(t, recv.Stdout, fmt.Sprintf(`"job": %d`, ids[0]), "results reached the server: %s", recv.Stdout)

	// Phase 2: the server is killed with both workers attached.
	a.Start()
	more := make([]int64, 40)
	for i := range more {
		more[i] = fleetJob(t, c, marks, job.Spec{})
	}
	require.Eventually(t, func() bool {
		p, err := c.Jobs(ctx, client.ListParams{States: []job.State{job.Running}})
		return err == nil && len(p.Jobs) > 0
	}, 30*time.Second, 20*time.Millisecond)
	s.Kill()
	time.Sleep(time.Second)
	s.Start()
	r = s.Berth("", append([]string{"wait", "--timeout", "120s"}, refs(more)...)...)
	require.Equal(t, 0, r.Code, "all jobs Done after the server's restart: %s\n%s", r.Stdout+r.Stderr, s.Log())
	for _, id := range more {
		tk := taskOf(t, s, fmt.Sprint(id))
		pids, ended := tally(runs(t, marks, id))
		require.Equal(t, 1, tk.Attempt, "job %d ran once", id)
		require.Len(t, pids, 1, "job %d started once", id)
		require.Equal(t, 1, ended, "job %d ended once", id)
	}
}

// TestFleetConstraints checks that --constraint sends a job only to workers
// with the label, and that SIGTERM drains a worker: its running task
// finishes and nothing new starts there.
func TestFleetConstraints(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t, "--worker", "none", "--slots", "4")
	c := s.Client()
	marks := testenv.ShortTempDir(t)
	s.StartWorker(t, "wgpu", "--slots", "2", "--executor", "process", "--label", "gpu=yes")
	plain := s.StartWorker(t, "wplain", "--slots", "2", "--executor", "process", "--label", "plain=yes")

	var ids []int64
	for range 6 {
		ids = append(ids, fleetJob(t, c, marks, job.Spec{Constraints: map[string]string{"gpu": "yes"}}))
	}
	r := s.Berth("", append([]string{"wait", "--timeout", "60s"}, refs(ids)...)...)
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr+s.Log())
	for _, id := range ids {
		require.Equal(t, "wgpu", taskOf(t, s, fmt.Sprint(id)).Worker, "job %d ran where its constraint holds", id)
	}
	r = s.Berth("", "run", "-d", "--constraint", "bad key=1", "--", "true")
	require.Equal(t, 2, r.Code, r.Stderr)
	require.Contains(t, r.Stderr, "constraints")

	// Drain: a long job on the plain worker finishes after SIGTERM, and
	// the worker waits for it.
	gate := filepath.Join(marks, "gate")
	j, err := c.Submit(context.Background(), job.Spec{Constraints: map[string]string{"plain": "yes"}, Template: job.Template{Command: "sh",
		Args: []string{"-c", fmt.Sprintf("while [ ! -e %s ]; do sleep 0.05; done; echo drained", gate)}}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return taskOf(t, s, fmt.Sprint(j.ID)).State == job.Running
	}, 20*time.Second, 20*time.Millisecond)
	require.Equal(t, "wplain", taskOf(t, s, fmt.Sprint(j.ID)).Worker)
	plain.Signal(syscall.SIGTERM)
	require.False(t, plain.Wait(300*time.Millisecond), "a draining worker waits for its task")
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	r = s.Berth("", "wait", "--timeout", "30s", fmt.Sprint(j.ID))
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	require.Equal(t, "drained\n", s.Berth("", "logs", fmt.Sprint(j.ID)).Stdout)
	require.True(t, plain.Wait(15*time.Second), "the drained worker exits once its task ended")
}

func refs(ids []int64) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprint(id)
	}
	return out
}

// TestFleetExternalNATS runs the server and a worker against an external
// NATS (with JetStream, user and password in the URL) instead of the
// embedded one.
func TestFleetExternalNATS(t *testing.T) {
	t.Parallel()
	natsDir := testenv.ShortTempDir(t)
	ns, err := dispatch.NewServer(dispatch.ServerConfig{StoreDir: filepath.Join(natsDir, "js"), User: "ext", Password: "ext-secret"})
	require.NoError(t, err)
	require.NoError(t, ns.Start(context.Background()))
	t.Cleanup(ns.Shutdown)
	url := strings.Replace(ns.ClientURL(), "nats://", "nats://ext:ext-secret@", 1)

	s := testenv.StartServer(t, "--worker", "none", "--nats", url)
	s.StartWorker(t, "wext", "--slots", "2", "--executor", "process", "--nats", url)
	r := s.Berth("", "run", "--", "sh", "-c", "echo via external NATS")
	require.Equal(t, 0, r.Code, r.Stderr+s.Log())
	require.Equal(t, "via external NATS\n", r.Stdout)

	// Without credentials the worker is refused at once, naming the cause.
	bad := s.Berth("", "worker", "--nats", ns.ClientURL(), "--state-dir", testenv.ShortTempDir(t))
	require.NotEqual(t, 0, bad.Code)
	require.Contains(t, bad.Stderr, "uthorization")
}

// TestFleetControl checks what reaches a job on a remote worker: its output
// followed live with logs -f, suspend and resume (observed as states),
// stop; and that a job that is not rerunnable ends Failed/LOST when its
// worker is killed.
func TestFleetControl(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for the lost worker's heartbeat timeout")
	}
	t.Parallel()
	s := testenv.StartServer(t, "--worker", "none", "--slots", "4")
	w := s.StartWorker(t, "wctl", "--slots", "2", "--executor", "process")
	ctx := context.Background()
	c := s.Client()

	j, err := c.Submit(ctx, job.Spec{Template: job.Template{Command: "sh",
		Args: []string{"-c", "i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo line $i; sleep 0.05; done"}}})
	require.NoError(t, err)
	ref := fmt.Sprint(j.ID)

	// logs -f shows lines while the job runs (they come over NATS).
	fctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	follow := s.BerthContext(fctx, "", "logs", "-f", ref)
	cancel()
	require.Contains(t, follow.Stdout, "line 1\n", "followed output: %q", follow.Stdout)
	require.Equal(t, job.Running, taskOf(t, s, ref).State)

	require.Equal(t, 0, s.Berth("", "suspend", ref).Code)
	require.Eventually(t, func() bool { return taskOf(t, s, ref).State == job.Suspended }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 0, s.Berth("", "resume", ref).Code)
	require.Eventually(t, func() bool { return taskOf(t, s, ref).State == job.Running }, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, 0, s.Berth("", "stop", ref).Code)
	r := s.Berth("", "wait", "--timeout", "30s", ref)
	require.Equal(t, 1, r.Code, r.Stdout+r.Stderr)
	require.Equal(t, job.ReasonCanceled, taskOf(t, s, ref).SubState.Kind)
	require.Contains(t, s.Berth("", "logs", ref).Stdout, "line 1\nline 2\n", "the output up to the stop reached the server")

	// A job that is not rerunnable is LOST with its worker.
	once, err := c.Submit(ctx, job.Spec{Template: job.Template{Command: "sleep", Args: []string{"60"}}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return taskOf(t, s, fmt.Sprint(once.ID)).State == job.Running },
		20*time.Second, 20*time.Millisecond)
	w.Kill()
	require.Eventually(t, func() bool { return taskOf(t, s, fmt.Sprint(once.ID)).State == job.Failed },
		40*time.Second, 100*time.Millisecond, "the lost job fails\n%s", s.Log())
	tk := taskOf(t, s, fmt.Sprint(once.ID))
	require.Equal(t, job.ReasonLost, tk.SubState.Kind)
	require.Equal(t, 1, tk.Attempt)
}
