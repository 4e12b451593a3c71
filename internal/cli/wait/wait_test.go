package wait

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/job"
)

func TestNewCmdWaitFlags(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "http://unused:1", false)
	var got *Options
	_, err := clitest.Exec(NewCmdWait(env.F, func(_ context.Context, o *Options) error { got = o; return nil }),
		"1", "2", "--any", "--timeout", "1d2h")
	require.NoError(t, err)
	require.Equal(t, []int64{1, 2}, got.IDs)
	require.True(t, got.Any)
	require.Equal(t, job.Duration(26*time.Hour), got.Timeout)

	code, err := clitest.Exec(NewCmdWait(env.F, nil), "1", "--timeout", "-5s")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, `invalid argument "-5s" for "--timeout" flag`)
}

func TestWait(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	api.Add(&job.Job{}, &job.Task{State: job.Done, SubState: job.ExitCode(0)})
	api.Add(&job.Job{}, &job.Task{State: job.Failed, SubState: job.ExitCode(2)})
	api.Add(&job.Job{}, &job.Task{State: job.Running})

	env := clitest.NewEnv(t, url, false)
	code, err := clitest.Exec(NewCmdWait(env.F, nil), "1")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "1\tDone\tEXIT_CODE 0\n", env.Out.String())

	env = clitest.NewEnv(t, url, true)
	code, _ = clitest.Exec(NewCmdWait(env.F, nil), "1", "2")
	require.Equal(t, 1, code)
	require.Equal(t, "ID  STATE   REASON\n1   Done    EXIT_CODE 0\n2   Failed  EXIT_CODE 2\n", env.Out.String())

	env = clitest.NewEnv(t, url, false)
	code, _ = clitest.Exec(NewCmdWait(env.F, nil), "3", "--timeout", "50ms", "--json")
	require.Equal(t, cmdutil.ExitTimeout, code)
	var res api.WaitResult
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &res))
	require.True(t, res.TimedOut)

	env = clitest.NewEnv(t, url, false)
	code, _ = clitest.Exec(NewCmdWait(env.F, nil), "3", "1", "--any")
	require.Equal(t, 0, code)

	env = clitest.NewEnv(t, url, false)
	code, err = clitest.Exec(NewCmdWait(env.F, nil), "99")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.EqualError(t, err, "no job 99")
}

func TestWaitWakes(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	api.Add(&job.Job{}, &job.Task{State: job.Running})
	time.AfterFunc(30*time.Millisecond, func() {
		api.Update(1, func(ts []*job.Task) { ts[0].State = job.Failed })
	})
	env := clitest.NewEnv(t, url, false)
	code, _ := clitest.Exec(NewCmdWait(env.F, nil), "1")
	require.Equal(t, 1, code)
}
