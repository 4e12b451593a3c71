package wait

import (
	"context"
	"encoding/json"
	"fmt"
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

var server = clitest.Share(clitest.Options{})

func TestMain(m *testing.M) { clitest.Main(m) }

func TestWait(t *testing.T) {
	t.Parallel()
	s := server.Server(t)
	done := s.Submit(t, job.Spec{Template: job.Template{Command: "true"}})
	failed := s.Submit(t, job.Spec{Template: job.Template{Command: "sh", Args: []string{"-c", "exit 2"}}})
	running := s.Submit(t, job.Spec{Template: job.Template{Command: "sleep", Args: []string{"100"}}})
	t.Cleanup(func() { _, _ = s.Client(t).Control(context.Background(), job.Ref{Job: running}, job.Terminate) })

	env := s.Env(t, false)
	code, err := clitest.Exec(NewCmdWait(env.F, nil), fmt.Sprint(done))
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, fmt.Sprintf("%d\tDone\tEXIT_CODE 0\n", done), env.Out.String())

	env = s.Env(t, true)
	code, _ = clitest.Exec(NewCmdWait(env.F, nil), fmt.Sprint(done), fmt.Sprint(failed))
	require.Equal(t, 1, code)
	require.Equal(t, fmt.Sprintf("ID  STATE   REASON\n%-4dDone    EXIT_CODE 0\n%-4dFailed  EXIT_CODE 2\n", done, failed), env.Out.String())

	env = s.Env(t, false)
	code, _ = clitest.Exec(NewCmdWait(env.F, nil), fmt.Sprint(running), "--timeout", "50ms", "--json")
	require.Equal(t, cmdutil.ExitTimeout, code)
	var res api.WaitResult
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &res))
	require.True(t, res.TimedOut)

	env = s.Env(t, false)
	code, _ = clitest.Exec(NewCmdWait(env.F, nil), fmt.Sprint(running), fmt.Sprint(done), "--any")
	require.Equal(t, 0, code)

	env = s.Env(t, false)
	code, err = clitest.Exec(NewCmdWait(env.F, nil), "999")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.EqualError(t, err, "no job 999")
}

// TestWaitWakes waits for a job that ends while it waits.
func TestWaitWakes(t *testing.T) {
	t.Parallel()
	s := server.Server(t)
	id := s.Submit(t, job.Spec{Template: job.Template{Command: "sh", Args: []string{"-c", "sleep 0.1; exit 1"}}})
	env := s.Env(t, false)
	code, _ := clitest.Exec(NewCmdWait(env.F, nil), fmt.Sprint(id))
	require.Equal(t, 1, code)
}
