package docker

import (
	"context"
	"testing"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

// TestRecoverRunning drops the executor while a task runs and writes, then
// recovers the task with a new executor of the same Instance: the true exit
// status and the full output arrive, without a duplicate byte.
func TestRecoverRunning(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	ctx := context.Background()
	s := tb.spec("rec", nil, "sh", "-c", "seq 1 1000; seq 1 500 >&2; sleep 2; seq 1001 2000; seq 501 1000 >&2; exit 7")
	h := tb.start(t, s)
	require.Eventually(t, func() bool { return len(readFile(t, s.Stdout)) == len(seqText(1, 1000)) }, 10*time.Second, 10*time.Millisecond)
	tb.reopen(t, Config{})
	_, err := tb.exec.Inspect(ctx, "rec")
	require.ErrorIs(t, err, executor.ErrNotFound)
	require.NoError(t, tb.exec.Recover(ctx, h))
	require.NoError(t, tb.exec.Recover(ctx, h), "second Recover")
	st, err := tb.exec.Inspect(ctx, "rec")
	require.NoError(t, err)
	require.Equal(t, job.Running, st.State)
	x := tb.wait(t, "rec", 20*time.Second)
	require.NoError(t, x.Err)
	require.Equal(t, 7, x.ExitCode)
	require.Equal(t, seqText(1, 2000), readFile(t, s.Stdout))
	require.Equal(t, seqText(1, 1000), readFile(t, s.Stderr))
	require.NoError(t, tb.exec.Destroy(ctx, "rec", false))
}

// TestRecoverExited drops the executor, lets the task end meanwhile, and
// recovers it: the exit status is the container's, and the output the
// dropped executor missed is appended.
func TestRecoverExited(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	ctx := context.Background()
	s := tb.spec("gone", nil, "sh", "-c", "echo first; echo e1 >&2; sleep 1; echo second; echo e2 >&2; exit 5")
	h := tb.start(t, s)
	require.Eventually(t, func() bool { return readFile(t, s.Stdout) == "first\n" }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, tb.exec.Close())
	// Wait for the exit behind the executor's back.
	res := tb.cli.ContainerWait(ctx, h.Ident.ContainerID, waitNotRunning)
	select {
	case r := <-res.Result:
		require.EqualValues(t, 5, r.StatusCode)
	case err := <-res.Error:
		t.Fatal(err)
	}
	require.Equal(t, "first\n", readFile(t, s.Stdout))
	tb.reopen(t, Config{})
	// A handle of an earlier berth (version 0, no state): the container is
	// found by its labels.
	require.NoError(t, tb.exec.Recover(ctx, &executor.Handle{ID: h.ID, Driver: Driver}))
	x := tb.wait(t, "gone", 20*time.Second)
	require.NoError(t, x.Err)
	require.Equal(t, 5, x.ExitCode)
	require.False(t, x.Finished.IsZero())
	require.Equal(t, "first\nsecond\n", readFile(t, s.Stdout))
	require.Equal(t, "e1\ne2\n", readFile(t, s.Stderr))
	st, err := tb.exec.Inspect(ctx, "gone")
	require.NoError(t, err)
	require.Equal(t, job.Failed, st.State)
	require.NoError(t, tb.exec.Destroy(ctx, "gone", false))

	// A handle whose container is gone cannot be recovered.
	require.ErrorIs(t, tb.exec.Recover(ctx, h), executor.ErrNotRecoverable)
	require.ErrorIs(t, tb.exec.Recover(ctx, &executor.Handle{ID: "nobody", Driver: Driver}), executor.ErrNotRecoverable)
	require.ErrorIs(t, tb.exec.Recover(ctx, &executor.Handle{ID: "x", Driver: "process"}), executor.ErrNotRecoverable)
}

// TestCleanup checks that Cleanup removes the containers of the Instance
// that the executor does not track, reports them, and leaves tracked ones.
func TestCleanup(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	ctx := context.Background()
	left := tb.start(t, tb.spec("left", nil, "sleep", "100"))
	tb.reopen(t, Config{})
	kept := tb.start(t, tb.spec("kept", nil, "sleep", "100"))
	found, err := tb.exec.Cleanup(ctx)
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, "left", found[0].ID)
	require.Equal(t, left.Ident.ContainerID, found[0].Ident.ContainerID)
	require.Equal(t, Driver, found[0].Driver)
	_, err = tb.cli.ContainerInspect(ctx, left.Ident.ContainerID, clientInspect)
	require.Error(t, err, "left-over container still there")
	_, err = tb.cli.ContainerInspect(ctx, kept.Ident.ContainerID, clientInspect)
	require.NoError(t, err)
	require.NoError(t, tb.exec.Destroy(ctx, "kept", true))
}

// TestRecoverCreated checks a container created but never started (its
// executor died between create and start): Recoverable leaves it out,
// Recover refuses it (and removes it), and Cleanup removes it and reports
// it, so that its task is reported lost.
func TestRecoverCreated(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	ctx := context.Background()
	create := func(id string) string {
		t.Helper()
		cs, err := buildContainer(tb.spec(id, nil, "true"), &tb.exec.cfg)
		require.NoError(t, err)
		cid, err := tb.exec.create(ctx, cs)
		require.NoError(t, err)
		return cid
	}
	first, second := create("1.0.1"), create("2.0.1")
	running := tb.start(t, tb.spec("3.0.1", nil, "sleep", "100"))
	tb.reopen(t, Config{}) // the executor that created them is gone

	hs, err := tb.exec.Recoverable(ctx)
	require.NoError(t, err)
	require.Len(t, hs, 1, "only the running container")
	require.Equal(t, running.Ident.ContainerID, hs[0].Ident.ContainerID)

	err = tb.exec.Recover(ctx, newHandle("1.0.1", first, time.Time{}))
	require.ErrorIs(t, err, executor.ErrNotRecoverable)
	require.ErrorContains(t, err, "never started")
	_, err = tb.cli.ContainerInspect(ctx, first, clientInspect)
	require.Error(t, err, "removed")

	require.NoError(t, tb.exec.Recover(ctx, hs[0]))
	found, err := tb.exec.Cleanup(ctx)
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, "2.0.1", found[0].ID)
	require.Equal(t, second, found[0].Ident.ContainerID)
	_, err = tb.cli.ContainerInspect(ctx, second, clientInspect)
	require.Error(t, err, "removed")
	require.NoError(t, tb.exec.Destroy(ctx, "3.0.1", true))
}
