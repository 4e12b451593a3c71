package logs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
)

func TestNewCmdLogsFlags(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "http://unused:1", false)
	var got *Options
	_, err := clitest.Exec(NewCmdLogs(env.F, func(_ context.Context, o *Options) error { got = o; return nil }), "-f", "3.1", "--stderr")
	require.NoError(t, err)
	require.Equal(t, job.Ref{Job: 3, Index: 1, HasIndex: true}, got.Ref)
	require.True(t, got.Follow)
	require.True(t, got.Stderr)
	code, _ := clitest.Exec(NewCmdLogs(env.F, nil))
	require.Equal(t, cmdutil.ExitUsage, code)
}

// server holds two ended jobs: 1, whose output the worker could not write
// whole, and 2.
var server = clitest.Share(clitest.Options{Seed: func(f *clitest.Fixtures) {
	id := f.Job(job.Spec{Template: job.Template{Command: "true"}}, clitest.Now)
	f.Set(clitest.Now, &job.Task{JobID: id, State: job.Done, SubState: job.ExitCode(0),
		Info: job.Info{Message: job.OutputIncomplete + "write /x: no space left on device"}})
	f.Output(id, 0, datadir.StdoutFile, "partial\n")
	id = f.Job(job.Spec{Template: job.Template{Command: "true"}}, clitest.Now)
	f.Set(clitest.Now, &job.Task{JobID: id, State: job.Done, SubState: job.ExitCode(0)})
	f.Output(id, 0, datadir.StdoutFile, "one\ntwo\nthree\nfour")
	f.Output(id, 0, datadir.StderrFile, "a\nb\n")
}})

func TestMain(m *testing.M) { clitest.Main(m) }

func TestLogs(t *testing.T) {
	t.Parallel()
	s := server.Server(t)
	gate := filepath.Join(t.TempDir(), "gate")
	id := s.Submit(t, job.Spec{Template: job.Template{Command: "sh", Args: []string{"-c",
		`printf 'raw \000 bytes\n'; echo oops >&2; while [ ! -e "$1" ]; do sleep 0.01; done; echo bye >&2`, "sh", gate}}})
	s.Running(t, id, 1)

	// Following stderr: what is there, then what comes until the end.
	env := s.Env(t, false)
	followed := make(chan error, 1)
	go func() {
		_, err := clitest.Exec(NewCmdLogs(env.F, nil), fmt.Sprint(id), "--stderr", "-f")
		followed <- err
	}()
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	require.NoError(t, <-followed)
	require.Equal(t, "oops\nbye\n", env.Out.String())
	require.Empty(t, env.ErrOut.String())

	env = s.Env(t, true)
	_, err := clitest.Exec(NewCmdLogs(env.F, nil), fmt.Sprint(id), "--stdout")
	require.NoError(t, err)
	require.Equal(t, "raw \x00 bytes\n", env.Out.String())
	// Both streams, each line with the time it arrived; bye came last.
	env = s.Env(t, true)
	_, err = clitest.Exec(NewCmdLogs(env.F, nil), fmt.Sprint(id), "-t", "--since", "1h")
	require.NoError(t, err)
	require.Regexp(t, `^(\S+Z (raw \x00 bytes|oops)\n){2}\S+Z bye\n$`, env.Out.String())

	// Output the worker could not write is noted.
	env = s.Env(t, false)
	_, err = clitest.Exec(NewCmdLogs(env.F, nil), "1")
	require.NoError(t, err)
	require.Equal(t, "partial\n", env.Out.String())
	require.Equal(t, "berth: the output of 1 is incomplete: write /x: no space left on device\n", env.ErrOut.String())

	code, err := clitest.Exec(NewCmdLogs(env.F, nil), "999")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.EqualError(t, err, "no job 999")
}

func TestLogsTail(t *testing.T) {
	t.Parallel()
	s := server.Server(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tail", "2", "--stdout", "2"}, "three\nfour"},
		{[]string{"--tail", "0", "2"}, ""},
		{[]string{"--tail", "9", "--stdout", "2"}, "one\ntwo\nthree\nfour"},
		// Written without arrival times: stdout, then stderr.
		{[]string{"--tail", "3", "2"}, "three\nfoura\nb\n"},
		{[]string{"--tail", "1", "--stderr", "2"}, "b\n"},
		{[]string{"--tail", "1", "-f", "--stderr", "2"}, "b\n"}, // then follows from its end: nothing more
	} {
		env := s.Env(t, false)
		_, err := clitest.Exec(NewCmdLogs(env.F, nil), tc.args...)
		require.NoError(t, err)
		require.Equal(t, tc.want, env.Out.String(), "%q", tc.args)
	}
	env := s.Env(t, false)
	code, err := clitest.Exec(NewCmdLogs(env.F, nil), "--tail", "-3", "2")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, `"--tail" flag`)
	code, err = clitest.Exec(NewCmdLogs(env.F, nil), "--since", "yesterday", "2")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, `invalid --since "yesterday"`)
	code, err = clitest.Exec(NewCmdLogs(env.F, nil), "--stdout", "--stderr", "2")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, "exclude each other")
	_, err = clitest.Exec(NewCmdLogs(env.F, nil), "-t", "2")
	require.ErrorContains(t, err, "no arrival times")
}
