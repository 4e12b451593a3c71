package process_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/executor/process"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/stretchr/testify/require"
)

// TestMain fails the run if any goroutine of the package outlives the
// tests.
func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(runRole(role)) // a helper process of a test (reaper_test.go)
	}
	testenv.MainCheckingLeaks(m, "berth/executor/process.")
}

const testPath = "PATH=/usr/local/bin:/usr/bin:/bin"

// newSpec returns a spec running command in a fresh directory, with output
// to files "out" and "err" there.
func newSpec(t testing.TB, id, command string, args ...string) *executor.Spec {
	dir := t.TempDir()
	return &executor.Spec{
		ID:      id,
		Command: command,
		Args:    args,
		Env:     []string{testPath},
		WorkDir: dir,
		Stdout:  filepath.Join(dir, "out"),
		Stderr:  filepath.Join(dir, "err"),
	}
}

func shSpec(t testing.TB, id, script string) *executor.Spec {
	return newSpec(t, id, "/bin/sh", "-c", script)
}

// start starts s and destroys the task when the test ends.
func start(t testing.TB, e *process.Executor, s *executor.Spec) *executor.Handle {
	t.Helper()
	h, err := e.Start(t.Context(), s)
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, e.Destroy(ctx, s.ID, true))
	})
	return h
}

// wait returns the task's exit, failing after ten seconds.
func wait(t testing.TB, e *process.Executor, id string) *executor.Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ch, err := e.Wait(ctx, id)
	require.NoError(t, err)
	x, ok := <-ch
	require.True(t, ok, "task %s did not exit in time", id)
	return x
}

// readFile reads an output file; a missing one is empty (it is created at
// the first byte).
func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	require.NoError(t, err)
	return string(b)
}

// procState returns the state letter of /proc/PID/stat, or 0 if the
// process is gone.
func procState(t testing.TB, pid int) byte {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	s := string(b)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return rest[0][0]
}
