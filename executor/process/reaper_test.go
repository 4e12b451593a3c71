package process_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/executor/process"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

// Helper processes: the test binary run again as a reaper, whose child is
// a worker that starts tasks and then waits to be killed.
const (
	roleEnv    = "BERTH_TEST_ROLE"
	dirEnv     = "BERTH_TEST_DIR"
	scriptsEnv = "BERTH_TEST_SCRIPTS" // one task's script a line
)

func runRole(role string) int {
	dir := os.Getenv(dirEnv)
	switch role {
	case "reaper":
		err := process.Reap(filepath.Join(dir, "state"), filepath.Join(dir, "exits"), func() (int, error) {
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), roleEnv+"=worker")
			cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
			if err := cmd.Start(); err != nil {
				return 0, err
			}
			return cmd.Process.Pid, nil
		}, nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return 0
	case "worker":
		e := process.New(process.Config{StateDir: filepath.Join(dir, "state"), ExitNotes: filepath.Join(dir, "exits")})
		for i, script := range strings.Split(os.Getenv(scriptsEnv), "\n") {
			s := &executor.Spec{ID: fmt.Sprintf("t%d", i), Command: "/bin/sh", Args: []string{"-c", script},
				Env: []string{testPath}, WorkDir: dir}
			if _, err := e.Start(context.Background(), s); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "ready"), []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil {
			return 1
		}
		select {} // until killed
	}
	return 2
}

// orphans starts a reaper whose worker starts scripts, and returns the data
// directory, the reaper and the worker's PID once the tasks run.
func orphans(t *testing.T, scripts ...string) (dir string, reaper *exec.Cmd, worker int) {
	t.Helper()
	dir = t.TempDir()
	reaper = exec.Command(os.Args[0])
	reaper.Env = append(os.Environ(), roleEnv+"=reaper", dirEnv+"="+dir, scriptsEnv+"="+strings.Join(scripts, "\n"))
	reaper.Stdout, reaper.Stderr = os.Stderr, os.Stderr
	reaper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, reaper.Start())
	t.Cleanup(func() {
		_ = syscall.Kill(-reaper.Process.Pid, syscall.SIGKILL)
		_ = reaper.Wait()
	})
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "ready"))
		worker, _ = strconv.Atoi(string(b))
		return err == nil && worker > 0
	}, 10*time.Second, 5*time.Millisecond)
	return dir, reaper, worker
}

func gated(gate, end string) string {
	return fmt.Sprintf("while [ ! -e %s ]; do sleep 0.01; done; %s", gate, end)
}

// TestFollowOrphans kills a worker with SIGKILL while its tasks run: a new
// executor follows them, and learns their true exit status from the
// reaper, whether they end before it starts or after, or ended before the
// worker died without being destroyed.
func TestFollowOrphans(t *testing.T) {
	t.Parallel()
	gate := filepath.Join(t.TempDir(), "gate")
	early := gate + ".early"
	dir, reaper, worker := orphans(t,
		gated(gate, "exit 0"),
		gated(gate, "exit 3"),
		gated(gate, "kill -TERM $$"),
		gated(early, "exit 5"),
		gated(gate, "sleep 1000 & exit 0"), // its straggler is killed
		"exit 7",                           // ended, but the worker died before Destroy reaped it
	)
	require.NoError(t, syscall.Kill(worker, syscall.SIGKILL))
	require.NoError(t, os.WriteFile(early, nil, 0o600))
	require.Eventually(t, func() bool {
		n, _ := filepath.Glob(filepath.Join(dir, "exits", "exit.*"))
		return len(n) == 2
	}, 10*time.Second, 5*time.Millisecond, "the exits of the tasks that ended are noted")

	e := process.New(process.Config{StateDir: filepath.Join(dir, "state"), ExitNotes: filepath.Join(dir, "exits")})
	hs, err := e.Recoverable(t.Context())
	require.NoError(t, err)
	require.Len(t, hs, 6)
	for _, h := range hs {
		require.NoError(t, e.Recover(t.Context(), h), h.ID)
	}
	lost, err := e.Cleanup(t.Context())
	require.NoError(t, err)
	require.Empty(t, lost, "nothing is lost")
	// Controls reach a followed task, whose state is read from /proc.
	require.NoError(t, e.Suspend(t.Context(), "t1"))
	requireState(t, e, "t1", job.Suspended)
	require.Equal(t, "t1", hs[1].ID, "in start order")
	require.Equal(t, byte('T'), procState(t, hs[1].Ident.PID))
	require.NoError(t, e.Resume(t.Context(), "t1"))
	requireState(t, e, "t1", job.Running)
	require.NoError(t, os.WriteFile(gate, nil, 0o600))

	x := wait(t, e, "t0")
	require.Equal(t, 0, x.ExitCode)
	require.Empty(t, x.Signal)
	require.NoError(t, x.Err)
	require.Equal(t, 3, wait(t, e, "t1").ExitCode)
	x = wait(t, e, "t2")
	require.Equal(t, "SIGTERM", x.Signal)
	require.Equal(t, -1, x.ExitCode)
	x = wait(t, e, "t3")
	require.Equal(t, 5, x.ExitCode)
	require.NotZero(t, x.MaxRSS)
	require.Equal(t, 0, wait(t, e, "t4").ExitCode)
	require.Equal(t, 7, wait(t, e, "t5").ExitCode)
	for _, h := range hs {
		require.NoError(t, e.Destroy(t.Context(), h.ID, false))
	}
	// The reaper exits once it has no child left: the straggler was killed.
	require.NoError(t, reaper.Wait())
	n, _ := filepath.Glob(filepath.Join(dir, "exits", "*"))
	require.Empty(t, n, "notes are removed once read, the reaper's mark when it exits")
	hs, err = e.Recoverable(t.Context())
	require.NoError(t, err)
	require.Empty(t, hs)
}

// TestOrphansWithoutReaper: when the reaper died too, the tasks' exit
// cannot be known: they are not followed, and Cleanup kills them.
func TestOrphansWithoutReaper(t *testing.T) {
	t.Parallel()
	dir, reaper, worker := orphans(t, "exec sleep 1000", "exec sleep 1000")
	require.NoError(t, reaper.Process.Kill())
	// Dead (a zombie, reaped at the cleanup so that its process group ID
	// is not reused before that kills it), so no reaper any more.
	require.Eventually(t, func() bool { return procState(t, reaper.Process.Pid) == 'Z' },
		10*time.Second, 5*time.Millisecond)
	require.NoError(t, syscall.Kill(worker, syscall.SIGKILL))
	e := process.New(process.Config{StateDir: filepath.Join(dir, "state"), ExitNotes: filepath.Join(dir, "exits")})
	// The worker's tasks are reparented once it is gone.
	require.Eventually(t, func() bool { return procState(t, worker) == 0 || procState(t, worker) == 'Z' },
		10*time.Second, 5*time.Millisecond)
	hs, err := e.Recoverable(t.Context())
	require.NoError(t, err)
	require.Empty(t, hs)
	lost, err := e.Cleanup(t.Context())
	require.NoError(t, err)
	require.Len(t, lost, 2)
	for _, h := range lost {
		require.Eventually(t, func() bool { s := procState(t, h.Ident.PID); return s == 0 || s == 'Z' },
			10*time.Second, 5*time.Millisecond, "task %s killed", h.ID)
	}
}
