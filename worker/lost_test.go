package worker

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/executor/process"
	"github.com/berth-run/berth/job"
)

// TestLostAtRestart checks a task left running by an earlier run of the
// worker is killed and reported lost.
func TestLostAtRestart(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	key := dispatch.TaskKey{Job: 5, Index: 2, Attempt: 1}

	// The earlier run's executor started the task.
	earlier := process.New(process.Config{StateDir: state})
	_, err := earlier.Start(t.Context(), &executor.Spec{ID: key.String(), Command: "sleep", Args: []string{"30"},
		Env: []string{"PATH=/usr/bin:/bin"}, WorkDir: t.TempDir()})
	require.NoError(t, err)
	exits, err := earlier.Wait(context.Background(), key.String())
	require.NoError(t, err)

	b := setup(t, func(c *Config) { c.Executor = process.New(process.Config{StateDir: state}) })
	b.run(t)
	ended := b.fake.next(t, dispatch.EventEnded)
	require.Equal(t, key, ended.TaskKey)
	require.Equal(t, job.Failed, ended.End.State)
	require.Equal(t, job.SubState{Kind: job.ReasonLost}, ended.End.SubState)
	select {
	case exit := <-exits:
		require.Equal(t, "SIGKILL", exit.Signal, "the left-over task is killed")
	case <-time.After(10 * time.Second):
		t.Fatal("left-over task still runs")
	}
	require.Eventually(t, func() bool { return len(b.worker.heartbeat().Running) == 0 }, 5*time.Second, 10*time.Millisecond)
}
