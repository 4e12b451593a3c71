package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// TestServerKilledArray kills the server with SIGKILL while a
// 1,000,000-task array runs (its tasks not yet started are ranges in the
// store), restarts it, lets the array go on, then stops it. No index runs
// twice, every task that ran is counted Done once, and the counts add up
// to the million.
func TestServerKilledArray(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	t.Parallel()
	const n = 1_000_000
	s := testenv.StartServer(t, "--slots", "4")
	c := s.Client()
	ctx := context.Background()
	marks := filepath.Join(testenv.ShortTempDir(t), "marks")
	// One short line appended per run: O_APPEND keeps the lines whole.
	script := fmt.Sprintf(`echo $BERTH_TASK_INDEX >> %s`, marks)
	j, err := c.Submit(ctx, job.Spec{Template: job.Template{Command: "sh", Args: []string{"-c", script}},
		Array: &job.Array{Begin: 1, End: n, Step: 1}})
	require.NoError(t, err)
	done := func() int {
		got, err := c.Job(ctx, j.ID)
		if err != nil {
			return -1
		}
		return got.Tasks[job.Done]
	}
	require.Eventually(t, func() bool { return done() >= 100 }, 60*time.Second, 20*time.Millisecond, "100 tasks done")

	t.Logf("%d done before the kill", done())
	s.Kill()
	s.Start()
	before := done()
	t.Logf("%d done after the restart", before)
	require.Eventually(t, func() bool { return done() >= before+100 }, 60*time.Second, 20*time.Millisecond,
		"100 more tasks done after the restart")

	t.Logf("%d done before the stop", done())
	_, err = c.Stop(ctx, job.Ref{Job: j.ID}, client.StopParams{})
	require.NoError(t, err)
	r := s.Berth("", "wait", "--timeout", "60s", strconv.FormatInt(j.ID, 10))
	require.Equal(t, 1, r.Code, "a stopped array fails: %s", r.Stdout+r.Stderr)

	got, err := c.Job(ctx, j.ID)
	require.NoError(t, err)
	require.Equal(t, job.Failed, got.State)
	require.Equal(t, n, got.Tasks[job.Done]+got.Tasks[job.Failed], "%v", got.Tasks)

	b, err := os.ReadFile(marks)
	require.NoError(t, err)
	ran := map[int]bool{}
	for line := range strings.Lines(string(b)) {
		i, err := strconv.Atoi(strings.TrimSpace(line))
		require.NoError(t, err, "mark %q", line)
		require.False(t, ran[i], "task %d ran twice", i)
		ran[i] = true
	}
	doneTasks := 0
	for tk, err := range c.TasksAll(ctx, j.ID, client.TaskParams{States: []job.State{job.Done}}) {
		require.NoError(t, err)
		require.True(t, ran[tk.Index], "task %d is Done but never ran", tk.Index)
		require.Equal(t, 1, tk.Attempt, "task %d", tk.Index)
		doneTasks++
	}
	require.Equal(t, got.Tasks[job.Done], doneTasks)
	// Those that ran and are not Done were stopped at their end (at most
	// a slot's worth of them).
	require.LessOrEqual(t, len(ran)-doneTasks, 4)
	tk := taskOf(t, s, fmt.Sprintf("%d.%d", j.ID, n))
	require.Equal(t, job.Failed, tk.State)
	require.Equal(t, job.ReasonCanceled, tk.SubState.Kind)
}
