package process

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/stretchr/testify/require"
)

// TestStartTicksSpan checks that the start time bracketed from
// CLOCK_BOOTTIME holds the one /proc reports, as killLeftover needs.
func TestStartTicksSpan(t *testing.T) {
	t.Parallel()
	e := New(Config{})
	dir := t.TempDir()
	for i := range 20 {
		id := "span" + string(rune('a'+i))
		h, err := e.Start(t.Context(), &executor.Spec{ID: id, Command: "/bin/sh", Args: []string{"-c", "sleep 1"}, WorkDir: dir})
		require.NoError(t, err)
		p, err := decodeHandle(h)
		require.NoError(t, err)
		st, err := readProcStat(p.PID)
		require.NoError(t, err)
		require.GreaterOrEqual(t, st.StartTicks, p.StartTicks, "start %d", i)
		require.LessOrEqual(t, st.StartTicks, p.StartTicks+p.StartSlack, "start %d", i)
		require.NoError(t, e.Destroy(t.Context(), id, true))
	}
}

// TestPathCache checks that a PATH lookup is reused, and that a program
// gone since is looked up again rather than failing the start.
func TestPathCache(t *testing.T) {
	t.Parallel()
	bin1, bin2 := t.TempDir(), t.TempDir()
	script := func(dir, out string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, "prog"), []byte("#!/bin/sh\necho "+out+"\n"), 0o755))
	}
	script(bin1, "one")
	script(bin2, "two")
	env := []string{"PATH=" + bin1 + ":" + bin2}
	e := New(Config{})
	dir := t.TempDir()
	run := func(id string) (string, error) {
		out := filepath.Join(dir, id+".out")
		if _, err := e.Start(t.Context(), &executor.Spec{ID: id, Command: "prog", Env: env, WorkDir: dir, Stdout: out}); err != nil {
			return "", err
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		ch, err := e.Wait(ctx, id)
		require.NoError(t, err)
		x := <-ch
		require.NotNil(t, x)
		require.NoError(t, e.Destroy(ctx, id, false))
		b, _ := os.ReadFile(out)
		return string(b), nil
	}
	out, err := run("a")
	require.NoError(t, err)
	require.Equal(t, "one\n", out)
	_, cached, err := e.paths.lookPath("prog", dir, env)
	require.NoError(t, err)
	require.True(t, cached)

	// Gone from the first directory: the cached path fails to exec, and
	// the start looks again.
	require.NoError(t, os.Remove(filepath.Join(bin1, "prog")))
	out, err = run("b")
	require.NoError(t, err)
	require.Equal(t, "two\n", out)

	require.NoError(t, os.Remove(filepath.Join(bin2, "prog")))
	_, err = run("c")
	require.ErrorIs(t, err, executor.ErrStartFailed)
	require.ErrorContains(t, err, "prog: command not found")
}

// TestWaitContext checks that a Wait whose context ends closes without an
// exit, and that other waiters still get it.
func TestWaitContext(t *testing.T) {
	t.Parallel()
	e := New(Config{})
	dir := t.TempDir()
	_, err := e.Start(t.Context(), &executor.Spec{ID: "w", Command: "/bin/sh", Args: []string{"-c", "sleep 0.2"}, WorkDir: dir})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	gone, err := e.Wait(ctx, "w")
	require.NoError(t, err)
	kept, err := e.Wait(t.Context(), "w")
	require.NoError(t, err)
	cancel()
	x, ok := <-gone
	require.False(t, ok)
	require.Nil(t, x)
	x, ok = <-kept
	require.True(t, ok)
	require.Equal(t, 0, x.ExitCode)
	_, ok = <-kept
	require.False(t, ok)
	require.NoError(t, e.Destroy(t.Context(), "w", false))
}
