package rm

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/job"
)

func TestNewCmdRmArgs(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "http://unused:1", false)
	var got *Options
	_, err := clitest.Exec(NewCmdRm(env.F, func(_ context.Context, o *Options) error { got = o; return nil }), "3", "4", "-f")
	require.NoError(t, err)
	require.Equal(t, []int64{3, 4}, got.IDs)
	require.True(t, got.Force)
	code, err := clitest.Exec(NewCmdRm(env.F, nil), "3.1")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, `"3.1" names a task`)
}

func TestRm(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	api.Add(&job.Job{State: job.Done})
	api.Add(&job.Job{State: job.Running})
	env := clitest.NewEnv(t, url, false)
	code, _ := clitest.Exec(NewCmdRm(env.F, nil), "1", "2")
	require.Equal(t, cmdutil.ExitFailure, code)
	require.Equal(t, "job 2 has not ended; use --force to stop and remove it\n", env.ErrOut.String())
	require.Equal(t, []int64{1}, api.Removed)

	env = clitest.NewEnv(t, url, true)
	code, err := clitest.Exec(NewCmdRm(env.F, nil), "--force", "2")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "removed job 2\n", env.ErrOut.String())

	env = clitest.NewEnv(t, url, false)
	code, _ = clitest.Exec(NewCmdRm(env.F, nil), "1")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.Equal(t, "no job 1\n", env.ErrOut.String())
}

func TestRmBefore(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	old, recent := time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
	api.Add(&job.Job{State: job.Done, FinishedAt: &old})
	api.Add(&job.Job{State: job.Done, FinishedAt: &recent})
	api.Add(&job.Job{State: job.Failed, FinishedAt: &old})
	api.Add(&job.Job{State: job.Running})
	env := clitest.NewEnv(t, url, false)
	code, err := clitest.Exec(NewCmdRm(env.F, nil), "--state", "done", "--before", "24h")
	require.NoError(t, err, env.ErrOut.String())
	require.Equal(t, 0, code)
	require.Equal(t, []int64{1}, api.Removed)

	// Alone, --before selects every job that ended that long ago.
	code, err = clitest.Exec(NewCmdRm(env.F, nil), "--before", "1d")
	require.NoError(t, err, env.ErrOut.String())
	require.Equal(t, 0, code)
	require.Equal(t, []int64{1, 3}, api.Removed)
}
