package process_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/executor/process"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

func readPID(t testing.TB, path string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), "\n") {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	return pid
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

func requireState(t testing.TB, e *process.Executor, id string, want job.State) {
	t.Helper()
	st, err := e.Inspect(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, want, st.State)
}

func TestSuspendResume(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	// The leader waits; its child appends to a counter file, with builtins
	// only so that it is never caught in vfork (see TestSuspendDuringVfork).
	s := shSpec(t, "t", `while :; do echo x >> counter; done & echo $! > child; wait`)
	h := start(t, e, s)
	child := readPID(t, filepath.Join(s.WorkDir, "child"))
	counter := filepath.Join(s.WorkDir, "counter")
	require.Eventually(t, func() bool {
		fi, err := os.Stat(counter)
		return err == nil && fi.Size() > 0
	}, 5*time.Second, 10*time.Millisecond)

	require.NoError(t, e.Suspend(t.Context(), s.ID))
	requireState(t, e, s.ID, job.Suspended)
	require.Equal(t, byte('T'), procState(t, h.Ident.PID))
	// The group got SIGSTOP at once, but a child may take a moment to stop.
	require.Eventually(t, func() bool { return procState(t, child) == 'T' }, time.Second, time.Millisecond)
	before := fileSize(t, counter)
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, before, fileSize(t, counter), "no progress while suspended")
	require.NoError(t, e.Suspend(t.Context(), s.ID), "suspending twice is a no-op")

	require.NoError(t, e.Resume(t.Context(), s.ID))
	requireState(t, e, s.ID, job.Running)
	require.NotEqual(t, byte('T'), procState(t, h.Ident.PID))
	require.Eventually(t, func() bool { return fileSize(t, counter) > before }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, e.Resume(t.Context(), s.ID), "resuming a running task is a no-op")

	require.NoError(t, e.Stop(t.Context(), s.ID, 10*time.Second))
	x := wait(t, e, s.ID)
	require.Equal(t, "SIGTERM", x.Signal)
	require.ErrorIs(t, e.Suspend(t.Context(), s.ID), executor.ErrNotRunning)
	require.ErrorIs(t, e.Resume(t.Context(), s.ID), executor.ErrNotRunning)
	require.ErrorIs(t, e.Stop(t.Context(), s.ID, time.Second), executor.ErrNotRunning)
}

func TestStopTrapped(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", `trap "exit 7" TERM; echo ready; while :; do sleep 0.05; done`)
	start(t, e, s)
	require.Eventually(t, func() bool { return readFile(t, s.Stdout) == "ready\n" }, 5*time.Second, 10*time.Millisecond)
	begin := time.Now()
	require.NoError(t, e.Stop(t.Context(), s.ID, 10*time.Second))
	x := wait(t, e, s.ID)
	require.Less(t, time.Since(begin), 5*time.Second)
	require.Equal(t, 7, x.ExitCode)
	require.Empty(t, x.Signal)
}

// TestStopSignal: a stop can begin with another signal, which the task
// handles; an unknown one is refused.
func TestStopSignal(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", `trap "exit 9" INT; trap "" TERM; echo ready; while :; do sleep 0.05; done`)
	start(t, e, s)
	require.Eventually(t, func() bool { return readFile(t, s.Stdout) == "ready\n" }, 5*time.Second, 10*time.Millisecond)
	require.ErrorContains(t, e.StopSignal(t.Context(), s.ID, "SIGNOPE", time.Minute), `unknown signal "SIGNOPE"`)
	require.NoError(t, e.StopSignal(t.Context(), s.ID, "SIGINT", time.Minute))
	x := wait(t, e, s.ID)
	require.Equal(t, 9, x.ExitCode, "ended by its INT trap, not by a SIGKILL a minute on")
}

func TestStopSuspended(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", `trap "exit 7" TERM; echo ready; while :; do sleep 0.05; done`)
	start(t, e, s)
	require.Eventually(t, func() bool { return readFile(t, s.Stdout) == "ready\n" }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, e.Suspend(t.Context(), s.ID))
	require.NoError(t, e.Stop(t.Context(), s.ID, 10*time.Second))
	require.Equal(t, 7, wait(t, e, s.ID).ExitCode)
}

func TestStopIgnored(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", `trap "" TERM; echo ready; while :; do sleep 0.05; done`)
	start(t, e, s)
	require.Eventually(t, func() bool { return readFile(t, s.Stdout) == "ready\n" }, 5*time.Second, 10*time.Millisecond)
	const grace = 300 * time.Millisecond
	begin := time.Now()
	require.NoError(t, e.Stop(t.Context(), s.ID, grace))
	// A later Stop with a longer grace keeps the earlier deadline.
	require.NoError(t, e.Stop(t.Context(), s.ID, time.Hour))
	x := wait(t, e, s.ID)
	require.GreaterOrEqual(t, time.Since(begin), grace)
	require.Less(t, time.Since(begin), 5*time.Second)
	require.Equal(t, -1, x.ExitCode)
	require.Equal(t, "SIGKILL", x.Signal)
}

// TestSuspendDuringVfork suspends a shell that starts a command every few
// milliseconds. dash starts commands with vfork; a group stop that catches
// the child before exec leaves the shell in an unstoppable vfork wait.
// Suspend and Resume must still complete, and the task still be stoppable.
func TestSuspendDuringVfork(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", `trap "exit 7" TERM; echo ready; while :; do /bin/true; done`)
	start(t, e, s)
	require.Eventually(t, func() bool { return readFile(t, s.Stdout) == "ready\n" }, 5*time.Second, 10*time.Millisecond)
	for range 30 {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		require.NoError(t, e.Suspend(ctx, s.ID))
		requireState(t, e, s.ID, job.Suspended)
		require.NoError(t, e.Resume(ctx, s.ID))
		requireState(t, e, s.ID, job.Running)
		cancel()
	}
	require.NoError(t, e.Suspend(t.Context(), s.ID))
	require.NoError(t, e.Stop(t.Context(), s.ID, 10*time.Second))
	require.Equal(t, 7, wait(t, e, s.ID).ExitCode)
}
