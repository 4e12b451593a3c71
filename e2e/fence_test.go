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

// markJob submits a job that writes "START attempt pid" and "END attempt
// pid" to marks/ID; its first attempt sleeps long, later ones briefly.
func markJob(t *testing.T, c *client.Client, marks, pool string, rerunnable bool) int64 {
	t.Helper()
	script := fmt.Sprintf(`m=%s/$BERTH_JOB_ID; echo "START $BERTH_ATTEMPT $$" >> $m; `+
		`if [ "$BERTH_ATTEMPT" = 1 ]; then sleep 60; else sleep 0.5; fi; echo "END $BERTH_ATTEMPT $$" >> $m`, marks)
	j, err := c.Submit(context.Background(), job.Spec{Pool: pool,
		Template: job.Template{Command: "sh", Args: []string{"-c", script}, Rerunnable: rerunnable, MaxAttempts: 3}})
	require.NoError(t, err)
	return j.ID
}

// marks returns a job's marker lines as (kind, attempt, pid).
func marks(t *testing.T, dir string, id int64) [][3]string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, strconv.FormatInt(id, 10)))
	var out [][3]string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.Fields(l); len(f) == 3 {
			out = append(out, [3]string{f[0], f[1], f[2]})
		}
	}
	return out
}

// pidOf returns a marker's PID.
func pidOf(t *testing.T, m [3]string) int {
	t.Helper()
	pid, err := strconv.Atoi(m[2])
	require.NoError(t, err)
	return pid
}

// TestFenceFrozenWorkers freezes (SIGSTOP) a remote worker and the local
// worker while their tasks run. Their watchdogs kill the tasks when the
// lease lapses, before the server runs them again elsewhere; once thawed,
// the workers report nothing of the stale attempts. A job that is not
// rerunnable ends Failed/LOST.
func TestFenceFrozenWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits for leases to lapse")
	}
	t.Parallel()
	s := testenv.StartServer(t, "--lease", "2s", "--slots", "4")
	wa := s.StartWorker(t, "wa", "--pool", "a", "--slots", "2", "--executor", "process")
	c := s.Client()
	dir := testenv.ShortTempDir(t)

	ja := markJob(t, c, dir, "a", true)
	once := markJob(t, c, dir, "a", false)
	jl := markJob(t, c, dir, "", true)
	started := func(id int64) bool { m := marks(t, dir, id); return len(m) > 0 }
	require.Eventually(t, func() bool { return started(ja) && started(once) && started(jl) }, 20*time.Second, 20*time.Millisecond, s.Log())

	local := s.WorkerPID()
	require.NoError(t, syscall.Kill(local, syscall.SIGSTOP))
	wa.Signal(syscall.SIGSTOP)
	frozen := time.Now()
	t.Cleanup(func() { _ = syscall.Kill(local, syscall.SIGCONT); wa.Signal(syscall.SIGCONT) })
	s.StartWorker(t, "wb", "--pool", "a", "--slots", "2", "--executor", "process")
	s.StartWorker(t, "wc", "--slots", "2", "--executor", "process")

	// Attempt 2 starts only once attempt 1 is dead.
	for _, id := range []int64{ja, jl} {
		require.Eventually(t, func() bool { return len(marks(t, dir, id)) >= 2 }, 40*time.Second, 10*time.Millisecond, "job %d not run again\n%s", id, s.Log())
		m := marks(t, dir, id)
		require.Equal(t, [2]string{"START", "2"}, [2]string{m[1][0], m[1][1]}, "job %d: %v", id, m)
		require.False(t, alive(pidOf(t, m[0])), "job %d: attempt 1 (pid %s) still runs beside attempt 2", id, m[0][2])
	}
	t.Logf("reran %s after the freeze", time.Since(frozen).Round(100*time.Millisecond))
	if os.Getenv("FENCE_DEBUG") != "" {
		defer func() { t.Log(s.Log()); t.Log(wa.Log()) }()
	}
	r := s.Berth("", "wait", "--timeout", "30s", fmt.Sprint(ja), fmt.Sprint(jl))
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	require.Eventually(t, func() bool { return taskOf(t, s, fmt.Sprint(once)).State == job.Failed }, 30*time.Second, 50*time.Millisecond)
	tk := taskOf(t, s, fmt.Sprint(once))
	require.Equal(t, job.ReasonLost, tk.SubState.Kind)
	require.False(t, alive(pidOf(t, marks(t, dir, once)[0])), "the lost attempt was killed")

	// Thawed, the workers report nothing of their stale attempts.
	require.NoError(t, syscall.Kill(local, syscall.SIGCONT))
	wa.Signal(syscall.SIGCONT)
	time.Sleep(3 * time.Second)
	for _, id := range []int64{ja, jl, once} {
		for _, m := range marks(t, dir, id) {
			require.False(t, m[0] == "END" && m[1] == "1", "job %d: a stale attempt ended: %v", id, marks(t, dir, id))
		}
	}
	for _, id := range []int64{ja, jl} {
		tk := taskOf(t, s, fmt.Sprint(id))
		require.Equal(t, job.Done, tk.State)
		require.Equal(t, 2, tk.Attempt)
	}
	require.Equal(t, job.Failed, taskOf(t, s, fmt.Sprint(once)).State)
	require.Contains(t, wa.Log(), "fencing a task")
}
