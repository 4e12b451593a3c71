package rm

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/client"
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

var server = clitest.Share(clitest.Options{})

func TestMain(m *testing.M) { clitest.Main(m) }

func TestRm(t *testing.T) {
	t.Parallel()
	s := server.Server(t)
	done := s.Submit(t, job.Spec{Template: job.Template{Command: "true"}})
	running := s.Submit(t, job.Spec{Template: job.Template{Command: "sleep", Args: []string{"100"}}})
	s.Wait(t, done)
	s.Running(t, running, 1)
	env := s.Env(t, false)
	code, _ := clitest.Exec(NewCmdRm(env.F, nil), fmt.Sprint(done), fmt.Sprint(running))
	require.Equal(t, cmdutil.ExitFailure, code)
	require.Equal(t, fmt.Sprintf("job %d has not ended; use --force to stop and remove it\n", running), env.ErrOut.String())
	_, err := s.Client(t).Job(context.Background(), done)
	require.ErrorIs(t, err, job.ErrNotFound, "removed")

	env = s.Env(t, true)
	code, err = clitest.Exec(NewCmdRm(env.F, nil), "--force", fmt.Sprint(running))
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, fmt.Sprintf("removed job %d\n", running), env.ErrOut.String())

	env = s.Env(t, false)
	code, _ = clitest.Exec(NewCmdRm(env.F, nil), fmt.Sprint(done))
	require.Equal(t, cmdutil.ExitUsage, code)
	require.Equal(t, fmt.Sprintf("no job %d\n", done), env.ErrOut.String())
}

func TestRmBefore(t *testing.T) {
	t.Parallel()
	old, recent := time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
	s := clitest.StartServer(t, clitest.Options{NoWorker: true, Seed: func(f *clitest.Fixtures) {
		spec := job.Spec{Template: job.Template{Command: "true"}}
		for _, end := range []struct {
			state job.State
			at    time.Time
		}{{job.Done, old}, {job.Done, recent}, {job.Failed, old}, {job.Running, old}} {
			id := f.Job(spec, old.Add(-time.Minute))
			f.Set(end.at, &job.Task{JobID: id, State: end.state, Info: job.Info{Attempt: 1, Worker: "w9"}})
		}
	}})
	ids := func() []int64 {
		var out []int64
		for j, err := range s.Client(t).JobsAll(context.Background(), client.ListParams{}) {
			require.NoError(t, err)
			out = append(out, j.ID)
		}
		return out
	}
	env := s.Env(t, false)
	code, err := clitest.Exec(NewCmdRm(env.F, nil), "--state", "done", "--before", "24h")
	require.NoError(t, err, env.ErrOut.String())
	require.Equal(t, 0, code)
	require.Equal(t, []int64{2, 3, 4}, ids())

	// Alone, --before selects every job that ended that long ago.
	code, err = clitest.Exec(NewCmdRm(env.F, nil), "--before", "1d")
	require.NoError(t, err, env.ErrOut.String())
	require.Equal(t, 0, code)
	require.Equal(t, []int64{2, 4}, ids())
}
