package control

import (
	"bufio"
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

var server = clitest.Share(clitest.Options{})

func TestMain(m *testing.M) { clitest.Main(m) }

// setup submits an array of two running tasks and a job no worker can
// take, and returns their IDs.
func setup(t *testing.T) (*clitest.Server, int64, int64) {
	s := server.Server(t)
	running := s.Submit(t, job.Spec{Array: &job.Array{Begin: 1, End: 2, Step: 1}, Template: job.Template{Command: "sleep", Args: []string{"100"}}})
	queued := s.Submit(t, job.Spec{Constraints: map[string]string{"no": "such"}, Template: job.Template{Command: "true"}})
	s.Running(t, running, 2)
	t.Cleanup(func() {
		_, _ = s.Client(t).Control(context.Background(), job.Ref{Job: running}, job.Terminate)
		_, _ = s.Client(t).Control(context.Background(), job.Ref{Job: queued}, job.Terminate)
	})
	return s, running, queued
}

func TestControlTerminal(t *testing.T) {
	t.Parallel()
	s, id, _ := setup(t)
	env := s.Env(t, true)
	code, err := clitest.Exec(NewCmd(env.F, "suspend", job.Suspend, "", nil), fmt.Sprint(id))
	require.NoError(t, err, env.ErrOut.String())
	require.Equal(t, 0, code)
	s.WaitFor(t, id, func(j *job.Job) bool { return j.Tasks[job.Suspended] == 2 })
	code, err = clitest.Exec(NewCmd(env.F, "resume", job.Resume, "", nil), fmt.Sprintf("%d.2", id))
	require.NoError(t, err, env.ErrOut.String())
	require.Equal(t, 0, code)
	require.Equal(t, fmt.Sprintf("%d: 2 task(s) changed\n%d.2: 1 task(s) changed\n", id, id), env.ErrOut.String())
	s.WaitFor(t, id, func(j *job.Job) bool { return j.Tasks[job.Suspended] == 1 && j.Tasks[job.Running] == 1 })

	// A task suspended already is an error of its own.
	env.ErrOut.Reset()
	code, _ = clitest.Exec(NewCmd(env.F, "suspend", job.Suspend, "", nil), fmt.Sprintf("%d.1", id))
	require.Equal(t, cmdutil.ExitFailure, code)
	require.Equal(t, fmt.Sprintf("%d.1: task %d.1 is Suspended; suspend applies only to running tasks\n", id, id), env.ErrOut.String())
}

func TestControlQuietAndFailures(t *testing.T) {
	t.Parallel()
	s, running, queued := setup(t)
	env := s.Env(t, false)
	// The queued job is held; 999 does not exist.
	code, _ := clitest.Exec(NewCmd(env.F, "hold", job.Hold, "", nil), "999", fmt.Sprint(queued))
	require.Equal(t, cmdutil.ExitUsage, code, "the only failure is an unknown job")
	require.Equal(t, "999: no job 999\n", env.ErrOut.String())
	require.Empty(t, env.Out.String())
	s.WaitFor(t, queued, func(j *job.Job) bool { return j.State == job.QueuedHeld })

	// The running job is not held: release fails; 999 does not exist; the
	// held job is released.
	env.ErrOut.Reset()
	code, _ = clitest.Exec(NewCmd(env.F, "release", job.Release, "", nil), fmt.Sprint(running), "999", fmt.Sprint(queued))
	require.Equal(t, cmdutil.ExitFailure, code)
	require.Equal(t, fmt.Sprintf("%d: no task of job %d is held\n999: no job 999\n", running, running), env.ErrOut.String())
	s.WaitFor(t, queued, func(j *job.Job) bool { return j.State == job.Queued })
}

func TestControlNoServer(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "127.0.0.1:1", false)
	code, err := clitest.Exec(NewCmd(env.F, "stop", job.Terminate, "", nil), "1", "2")
	require.Equal(t, cmdutil.ExitNoServer, code)
	require.EqualError(t, err, "no berth server at 127.0.0.1:1; start one with `berth serve`")
	require.Empty(t, env.ErrOut.String(), "said once, by Main")
}

// TestStopGraceAndKill stops tasks that ignore SIGTERM: stop after its
// grace, kill at once, both with SIGKILL; --signal sends its signal.
func TestStopGraceAndKill(t *testing.T) {
	t.Parallel()
	s := server.Server(t)
	id := s.Submit(t, job.Spec{Array: &job.Array{Begin: 1, End: 2, Step: 1},
		Template: job.Template{Command: "sh", Args: []string{"-c", "trap '' TERM; echo ready; exec sleep 100"}}})
	other := s.Submit(t, job.Spec{Template: job.Template{Command: "sleep", Args: []string{"100"}}})
	s.Running(t, id, 2)
	s.Running(t, other, 1)
	// Stopped only once SIGTERM is ignored.
	for i := 1; i <= 2; i++ {
		out, err := s.Client(t).Logs(context.Background(), job.Ref{Job: id, Index: i, HasIndex: true}, client.LogsParams{Follow: true})
		require.NoError(t, err)
		line, err := bufio.NewReader(out).ReadString('\n')
		out.Close()
		require.NoError(t, err)
		require.Equal(t, "ready\n", line)
	}
	env := s.Env(t, false)
	ref := func(i int) string { return fmt.Sprintf("%d.%d", id, i) }
	code, err := clitest.Exec(NewCmds(env.F, nil)[0], "--grace", "100ms", ref(1))
	require.NoError(t, err)
	require.Equal(t, 0, code)
	code, err = clitest.Exec(NewCmds(env.F, nil)[1], ref(2))
	require.NoError(t, err)
	require.Equal(t, 0, code)
	code, err = clitest.Exec(NewCmds(env.F, nil)[0], "--signal", "int", fmt.Sprint(other))
	require.NoError(t, err)
	require.Equal(t, 0, code)
	s.Wait(t, id, other)
	signals := func(id int64) []string {
		var out []string
		for tk, err := range s.Client(t).TasksAll(context.Background(), id, client.TaskParams{}) {
			require.NoError(t, err)
			require.Equal(t, job.Failed, tk.State)
			out = append(out, tk.Signal)
		}
		return out
	}
	require.Equal(t, []string{"SIGKILL", "SIGKILL"}, signals(id))
	require.Equal(t, []string{"SIGINT"}, signals(other))

	code, err = clitest.Exec(NewCmds(env.F, nil)[0], "--signal", "STOP", fmt.Sprint(other))
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, `--signal: unknown signal "STOP"`)
}
