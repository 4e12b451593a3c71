package control

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/job"
)

func TestNewCmdsArgs(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "http://unused:1", false)
	var got *Options
	cmds := NewCmds(env.F, func(_ context.Context, o *Options) error { got = o; return nil })
	require.Len(t, cmds, 6)
	_, err := clitest.Exec(cmds[0], "7", "8.2")
	require.NoError(t, err)
	require.Equal(t, job.Terminate, got.Action)
	require.Equal(t, []job.Ref{{Job: 7}, {Job: 8, Index: 2, HasIndex: true}}, got.Refs)
	require.Nil(t, got.Grace, "the job's or the server's grace")

	_, err = clitest.Exec(NewCmds(env.F, func(_ context.Context, o *Options) error { got = o; return nil })[0], "--grace", "1.5s", "7")
	require.NoError(t, err)
	require.Equal(t, 1500*time.Millisecond, *got.Grace)
	code, err := clitest.Exec(NewCmds(env.F, nil)[0], "--grace", "soon", "7")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, `invalid argument "soon" for "--grace" flag`)

	kill := NewCmds(env.F, func(_ context.Context, o *Options) error { got = o; return nil })[1]
	require.Equal(t, "kill", kill.Name())
	_, err = clitest.Exec(kill, "7")
	require.NoError(t, err)
	require.Equal(t, job.Terminate, got.Action)
	require.Equal(t, time.Duration(0), *got.Grace)
	require.Nil(t, kill.Flags().Lookup("grace"), "kill has no grace")

	code, err = clitest.Exec(NewCmds(env.F, nil)[2], "x")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, `invalid job ID "x"`)
	code, err = clitest.Exec(NewCmds(env.F, nil)[2])
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, "missing job ID")
}

func setup(t *testing.T, tty bool) (*clitest.API, *clitest.Env) {
	api, url := clitest.NewAPI(t)
	api.Add(&job.Job{}, &job.Task{Index: 1, State: job.Running}, &job.Task{Index: 2, State: job.Running})
	api.Add(&job.Job{State: job.Queued})
	return api, clitest.NewEnv(t, url, tty)
}

func TestControlTerminal(t *testing.T) {
	t.Parallel()
	api, env := setup(t, true)
	code, err := clitest.Exec(NewCmd(env.F, "suspend", job.Suspend, "", nil), "1", "1.2")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "1: 2 task(s) changed\n1.2: 0 task(s) changed\n", env.ErrOut.String())
	require.Equal(t, []string{"1 suspend", "1.2 suspend"}, api.Controls)
}

func TestControlQuietAndFailures(t *testing.T) {
	t.Parallel()
	api, env := setup(t, false)
	// 2 is not held: release fails; 9 does not exist; 1 still changes.
	code, _ := clitest.Exec(NewCmd(env.F, "hold", job.Hold, "", nil), "9", "2")
	require.Equal(t, cmdutil.ExitUsage, code, "the only failure is an unknown job")
	require.Equal(t, "9: no job 9\n", env.ErrOut.String())
	require.Empty(t, env.Out.String())

	env.ErrOut.Reset()
	code, _ = clitest.Exec(NewCmd(env.F, "release", job.Release, "", nil), "1", "9", "2")
	require.Equal(t, cmdutil.ExitFailure, code)
	require.Equal(t, "1: job 1 is not held\n9: no job 9\n", env.ErrOut.String())
	require.Equal(t, []string{"2 hold", "1 release", "2 release"}, api.Controls)
}

func TestControlNoServer(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "127.0.0.1:1", false)
	code, err := clitest.Exec(NewCmd(env.F, "stop", job.Terminate, "", nil), "1", "2")
	require.Equal(t, cmdutil.ExitNoServer, code)
	require.EqualError(t, err, "no berth server at 127.0.0.1:1; start one with `berth serve`")
	require.Empty(t, env.ErrOut.String(), "said once, by Main")
}

func TestStopGraceAndKill(t *testing.T) {
	t.Parallel()
	api, env := setup(t, false)
	code, err := clitest.Exec(NewCmds(env.F, nil)[0], "--grace", "2s", "1.1")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	code, err = clitest.Exec(NewCmds(env.F, nil)[1], "1.2")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	code, err = clitest.Exec(NewCmds(env.F, nil)[0], "2")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	code, err = clitest.Exec(NewCmds(env.F, nil)[0], "--signal", "int", "1")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, []string{"1.1 terminate grace=2s", "1.2 terminate grace=0s", "2 terminate", "1 terminate signal=SIGINT"}, api.Controls)

	code, err = clitest.Exec(NewCmds(env.F, nil)[0], "--signal", "STOP", "1")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, `--signal: unknown signal "STOP"`)
	require.Len(t, api.Controls, 4, "nothing sent")
}
