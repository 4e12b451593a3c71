package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// TestServerKilled kills the server with SIGKILL while 20 jobs run and 50
// are queued, and restarts it. Every job must be accounted for: the running
// ones finish in the surviving local worker and report their true exit
// status, the queued ones run, and none runs twice.
func TestServerKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	t.Parallel()
	s := testenv.StartServer(t, "--slots", "20")
	c := s.Client()
	ctx := context.Background()
	marks := testenv.ShortTempDir(t)
	gate := filepath.Join(marks, "gate")

	const total = 70
	ids := make([]int64, total)
	for i := range ids {
		// Each job leaves one mark per run, waits for the gate, and exits
		// with a code of its own.
		script := fmt.Sprintf(`echo run >> %s/mark.$BERTH_JOB_ID; while [ ! -e %s ]; do sleep 0.05; done; exit %d`, marks, gate, i%4)
		j, err := c.Submit(ctx, job.Spec{Template: job.Template{Command: "sh", Args: []string{"-c", script}}})
		require.NoError(t, err)
		ids[i] = j.ID
	}
	require.Eventually(t, func() bool {
		p, err := c.Jobs(ctx, client.ListParams{States: []job.State{job.Running}})
		return err == nil && len(p.Jobs) == 20
	}, 20*time.Second, 20*time.Millisecond, "20 jobs running")
	worker := s.WorkerPID()
	require.NotZero(t, worker)

	s.Kill()
	// While the server is down the running jobs end; their ends wait in the worker.
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	time.Sleep(500 * time.Millisecond)
	require.NoError(t, syscall.Kill(worker, 0), "the local worker outlived the server")
	s.Start()
	require.Equal(t, worker, s.WorkerPID(), "the restarted server adopted the running worker")

	idArgs := make([]string, total)
	for i, id := range ids {
		idArgs[i] = fmt.Sprint(id)
	}
	r := s.Berth("", append([]string{"wait", "--timeout", "60s"}, idArgs...)...)
	require.Equal(t, 1, r.Code, "some jobs exit non-zero: %s\n%s", r.Stdout+r.Stderr, s.Log())

	for i, id := range ids {
		tk := taskOf(t, s, fmt.Sprint(id))
		code := i % 4
		want := job.Done
		if code != 0 {
			want = job.Failed
		}
		require.Equal(t, want, tk.State, "job %d", id)
		require.Equal(t, job.ExitCode(code), tk.SubState, "job %d", id)
		require.Equal(t, 1, tk.Attempt, "job %d ran once", id)
		b, err := os.ReadFile(filepath.Join(marks, fmt.Sprintf("mark.%d", id)))
		require.NoError(t, err)
		require.Equal(t, 1, strings.Count(string(b), "run"), "job %d ran exactly once", id)
	}
}

// TestWorkerKilled kills the local worker with SIGKILL mid-job. Its jobs
// live on under the worker's reaper, and the new worker the server starts
// follows them: each ends with its true exit status, exit code or signal,
// whether it ended before the new worker started or after; none is lost,
// none runs twice.
func TestWorkerKilled(t *testing.T) {
	t.Parallel()
	workerCrash(t, false)
}

// TestServerAndWorkerKilled kills the server and the local worker at once:
// the reaper lives on, and the jobs end with their true status once the
// server is back.
func TestServerAndWorkerKilled(t *testing.T) {
	t.Parallel()
	workerCrash(t, true)
}

// workerCrash kills the local worker, and the server with it when
// killServer is set, while jobs run, and checks that each ends with its
// true status in its first attempt.
func workerCrash(t *testing.T, killServer bool) {
	s := testenv.StartServer(t, "--slots", "8")
	c := s.Client()
	ctx := context.Background()
	marks := testenv.ShortTempDir(t)
	gate := filepath.Join(marks, "gate")
	early := filepath.Join(marks, "early")
	type want struct {
		end        string
		rerunnable bool
		sub        job.SubState
	}
	wants := []want{
		{end: "exit 0", sub: job.ExitCode(0)},
		{end: "exit 3", sub: job.ExitCode(3)},
		{end: "kill -TERM $$", sub: job.Signal("SIGTERM")},
		{end: "exit 0", rerunnable: true, sub: job.ExitCode(0)},
		// Ends while no worker runs.
		{end: "exit 4", sub: job.ExitCode(4)},
	}
	ids := make([]int64, len(wants))
	pids := make([]int, len(wants))
	for i, w := range wants {
		g := gate
		if i == len(wants)-1 {
			g = early
		}
		script := fmt.Sprintf(`echo run >> %s/mark.$BERTH_JOB_ID; while [ ! -e %s ]; do sleep 0.05; done; %s`, marks, g, w.end)
		j, err := c.Submit(ctx, job.Spec{Template: job.Template{Command: "sh", Args: []string{"-c", script}, Rerunnable: w.rerunnable}})
		require.NoError(t, err)
		ids[i] = j.ID
	}
	require.Eventually(t, func() bool {
		for i, id := range ids {
			tk := taskOf(t, s, fmt.Sprint(id))
			if tk.State != job.Running || tk.PID == 0 {
				return false
			}
			pids[i] = tk.PID
		}
		return true
	}, 20*time.Second, 20*time.Millisecond)
	old := s.WorkerPID()
	if killServer {
		s.Kill()
	}
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
	require.NoError(t, os.WriteFile(early, nil, 0o600))
	if killServer {
		require.Eventually(t, func() bool { return !alive(pids[len(pids)-1]) },
			30*time.Second, 20*time.Millisecond, "the early job ended")
		s.Start()
	}
	require.Eventually(t, func() bool {
		return !alive(pids[len(pids)-1]) && s.WorkerPID() != old
	}, 30*time.Second, 20*time.Millisecond, "the early job ended and a new worker runs")
	for _, pid := range pids[:len(pids)-1] {
		require.True(t, alive(pid), "job %d outlived its worker", pid)
	}
	require.NoError(t, os.WriteFile(gate, nil, 0o600))

	idArgs := make([]string, len(ids))
	for i, id := range ids {
		idArgs[i] = fmt.Sprint(id)
	}
	r := s.Berth("", append([]string{"wait", "--timeout", "60s"}, idArgs...)...)
	require.Equal(t, 1, r.Code, "some jobs fail: %s\n%s", r.Stdout+r.Stderr, s.Log())
	for i, id := range ids {
		tk := taskOf(t, s, fmt.Sprint(id))
		state := job.Failed
		if wants[i].sub == job.ExitCode(0) {
			state = job.Done
		}
		require.Equal(t, state, tk.State, "job %d: %s\n%s", id, tk.Message, s.Log())
		require.Equal(t, wants[i].sub, tk.SubState, "job %d", id)
		require.Equal(t, 1, tk.Attempt, "job %d ran once", id)
		require.NotZero(t, tk.MaxRSS, "job %d: its usage is known", id)
		b, err := os.ReadFile(filepath.Join(marks, fmt.Sprintf("mark.%d", id)))
		require.NoError(t, err)
		require.Equal(t, 1, strings.Count(string(b), "run"), "job %d ran exactly once", id)
	}
}

// TestWorkerAndReaperKilled kills the local worker and its reaper at once:
// the exit status of the jobs they leave cannot be known (see
// internal/daemon's doc). The new worker kills them and reports them lost:
// a rerunnable job runs again, another ends Failed/LOST.
func TestWorkerAndReaperKilled(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	c := s.Client()
	ctx := context.Background()
	marks := testenv.ShortTempDir(t)
	gate := filepath.Join(marks, "gate")
	script := fmt.Sprintf(`echo run >> %s/mark.$BERTH_JOB_ID; while [ ! -e %s ]; do sleep 0.05; done`, marks, gate)
	re, err := c.Submit(ctx, job.Spec{Template: job.Template{Command: "sh", Args: []string{"-c", script}, Rerunnable: true}})
	require.NoError(t, err)
	once, err := c.Submit(ctx, job.Spec{Template: job.Template{Command: "sh", Args: []string{"-c", script}}})
	require.NoError(t, err)
	var pids []int
	require.Eventually(t, func() bool {
		pids = pids[:0]
		for _, id := range []int64{re.ID, once.ID} {
			tk := taskOf(t, s, fmt.Sprint(id))
			if tk.State != job.Running || tk.PID == 0 {
				return false
			}
			pids = append(pids, tk.PID)
		}
		return true
	}, 20*time.Second, 20*time.Millisecond)
	old := s.WorkerPID()
	reaper := parentOf(t, old)
	require.NoError(t, syscall.Kill(reaper, syscall.SIGKILL))
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))

	require.Eventually(t, func() bool {
		return taskOf(t, s, fmt.Sprint(once.ID)).State == job.Failed
	}, 30*time.Second, 50*time.Millisecond, "the lost job fails")
	tk := taskOf(t, s, fmt.Sprint(once.ID))
	require.Equal(t, job.ReasonLost, tk.SubState.Kind)
	require.NotEqual(t, old, s.WorkerPID(), "a new local worker runs")
	for _, pid := range pids {
		require.Eventually(t, func() bool { return !alive(pid) }, 10*time.Second, 20*time.Millisecond,
			"the old worker's job %d was killed", pid)
	}
	require.Eventually(t, func() bool {
		tk := taskOf(t, s, fmt.Sprint(re.ID))
		return tk.State == job.Running && tk.Attempt == 2
	}, 30*time.Second, 50*time.Millisecond, "the rerunnable job runs again")
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	r := s.Berth("", "wait", "--timeout", "30s", fmt.Sprint(re.ID))
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	b, err := os.ReadFile(filepath.Join(marks, fmt.Sprintf("mark.%d", re.ID)))
	require.NoError(t, err)
	require.Equal(t, 2, strings.Count(string(b), "run"))
}

// parentOf returns the parent of process pid.
func parentOf(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	s := string(b)
	ppid, err := strconv.Atoi(strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[1])
	require.NoError(t, err)
	return ppid
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0] != "Z"
}

// TestServerStopped stops the server with SIGTERM, as systemctl restart
// does, while 10 process jobs and 2 container jobs run: the local worker
// keeps them running, and once the server is back each ends with its true
// exit status and its full output, written in part while no server ran.
func TestServerStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	t.Parallel()
	image := testenv.DockerImage(t)
	testenv.RequireDocker(t)
	s := testenv.StartServer(t, "--slots", "12", "--stop-jobs-on-exit=false")
	marks := testenv.ShortTempDir(t)
	gate := filepath.Join(marks, "gate")
	// Each job prints a line, waits for the gate (opened while the server
	// is down), then prints 1,000 more.
	script := func(dir string) string {
		return fmt.Sprintf(`echo start; while [ ! -e %s/gate ]; do sleep 0.05; done; i=0; while [ $i -lt 1000 ]; do echo "line $i"; i=$((i+1)); done; echo end`, dir)
	}
	var ids []string
	for range 10 {
		ids = append(ids, fmt.Sprint(submitted(t, s.Berth("", "run", "-d", "--", "sh", "-c", script(marks)))))
	}
	for range 2 {
		ids = append(ids, fmt.Sprint(submitted(t, s.Berth("", "run", "-d", "--image", image, "--mount", marks+":/marks",
			"--", "sh", "-c", script("/marks")))))
	}
	require.Eventually(t, func() bool {
		for _, id := range ids {
			if tk := taskOf(t, s, id); tk.State != job.Running || !strings.HasPrefix(s.Berth("", "logs", id).Stdout, "start\n") {
				return false
			}
		}
		return true
	}, 60*time.Second, 50*time.Millisecond, "all 12 jobs run")
	worker := s.WorkerPID()
	require.NotZero(t, worker)

	s.Stop()
	require.Contains(t, s.Log(), "the local worker keeps running with its jobs")
	require.NoError(t, syscall.Kill(worker, 0), "the local worker outlived the server")
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	time.Sleep(time.Second) // the jobs end while no server runs
	s.Start()
	require.Equal(t, worker, s.WorkerPID(), "the restarted server adopted the running worker")

	r := s.Berth("", append([]string{"wait", "--timeout", "60s"}, ids...)...)
	require.Equal(t, 0, r.Code, "every job Done: %s\n%s", r.Stdout+r.Stderr, s.Log())
	var want strings.Builder
	want.WriteString("start\n")
	for i := range 1000 {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	want.WriteString("end\n")
	for _, id := range ids {
		tk := taskOf(t, s, id)
		require.Equal(t, job.Done, tk.State, "job %s: %s", id, tk.Message)
		require.Equal(t, job.ExitCode(0), tk.SubState, "job %s", id)
		require.Equal(t, 1, tk.Attempt, "job %s ran once", id)
		require.Equal(t, want.String(), s.Berth("", "logs", id).Stdout, "job %s: its full output", id)
	}
}
