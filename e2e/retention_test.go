package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// TestRetention: berth serve --retention removes an ended job's rows and
// files once it has been ended that long, and never a running or queued
// one; the health reports the data directory's disk use.
func TestRetention(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t, "--retention", "2s")
	ctx := context.Background()
	c := s.Client()
	done := submitted(t, s.Berth("", "run", "-d", "--", "echo", "kept a moment"))
	require.Equal(t, 0, s.Berth("", "wait", "--timeout", "30s", fmt.Sprint(done)).Code)
	require.FileExists(t, s.Dir.TaskFile(done, 0, "stdout"))
	running := submitted(t, s.Berth("", "run", "-d", "--", "sh", "-c", "echo running; sleep 60"))
	queued := submitted(t, s.Berth("", "run", "-d", "--constraint", "zone=nowhere", "--", "true"))
	held := submitted(t, s.Berth("", "run", "-d", "--hold", "--", "true"))
	require.Eventually(t, func() bool { return jobOf(t, s, running).State == job.Running }, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, "no worker with zone=nowhere", jobOf(t, s, queued).Waiting)

	require.Eventually(t, func() bool {
		_, err := c.Job(ctx, done)
		return errors.Is(err, job.ErrNotFound)
	}, 30*time.Second, 100*time.Millisecond, "the ended job is removed after its retention")
	require.NoDirExists(t, s.Dir.JobDir(done))
	time.Sleep(3 * time.Second) // more sweeps, past the retention of all of them
	for _, id := range []int64{running, queued, held} {
		j, err := c.Job(ctx, id)
		require.NoError(t, err, "job %d", id)
		require.False(t, j.State.Terminal(), "job %d", id)
	}
	require.FileExists(t, s.Dir.TaskFile(running, 0, "stdout"))

	h, err := c.Health(ctx)
	require.NoError(t, err)
	require.Positive(t, h.DataDirBytes)
}

// TestRetentionRestart: a server killed in the middle of a retention sweep
// loses nothing else: after the restart the sweep removes the rest of the
// ended jobs, rows and files, and the unended ones are whole.
func TestRetentionRestart(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t) // the default retention: 30 days
	ctx := context.Background()
	c := s.Client()
	var ended []int64
	for range 30 {
		ended = append(ended, submitted(t, s.Berth("", "run", "-d", "--", "echo", "x")))
	}
	running := submitted(t, s.Berth("", "run", "-d", "--", "sh", "-c", "echo running; sleep 120"))
	held := submitted(t, s.Berth("", "run", "-d", "--hold", "--", "true"))
	args := []string{"wait", "--timeout", "60s"}
	for _, id := range ended {
		args = append(args, fmt.Sprint(id))
	}
	require.Equal(t, 0, s.Berth("", args...).Code)
	require.Eventually(t, func() bool { return jobOf(t, s, running).State == job.Running }, 30*time.Second, 50*time.Millisecond)

	// Restarted with a short retention, the sweep starts at once: the
	// server is killed as soon as it has removed some job's files.
	s.Kill()
	s.Args = append(s.Args, "--retention", "1s")
	s.Start()
	require.Eventually(t, func() bool {
		_, err := os.Stat(s.Dir.JobDir(ended[0]))
		return err != nil
	}, 30*time.Second, time.Millisecond)
	s.Kill()
	s.Start()
	for _, id := range ended {
		require.Eventually(t, func() bool {
			_, err := c.Job(ctx, id)
			return errors.Is(err, job.ErrNotFound)
		}, 30*time.Second, 50*time.Millisecond, "job %d", id)
		require.NoDirExists(t, s.Dir.JobDir(id))
	}
	for _, id := range []int64{running, held} {
		j, err := c.Job(ctx, id)
		require.NoError(t, err, "job %d", id)
		require.False(t, j.State.Terminal(), "job %d", id)
	}
	require.Equal(t, job.Running, jobOf(t, s, running).State)
	require.FileExists(t, s.Dir.TaskFile(running, 0, "stdout"))
}
