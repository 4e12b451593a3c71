package logs

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
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

func TestLogs(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	api.Add(&job.Job{State: job.Running})
	api.Logs["1"] = map[string]string{"stdout": "raw \x00 bytes\n", "stderr": "oops\n"}
	env := clitest.NewEnv(t, url, true)
	_, err := clitest.Exec(NewCmdLogs(env.F, nil), "1", "--stdout")
	require.NoError(t, err)
	require.Equal(t, "raw \x00 bytes\n", env.Out.String())
	env = clitest.NewEnv(t, url, true)
	_, err = clitest.Exec(NewCmdLogs(env.F, nil), "1", "-t", "--since", "2026-12-07T10:00:00Z")
	require.NoError(t, err)
	require.Equal(t, "raw \x00 bytes\noops\n", env.Out.String())
	require.Contains(t, api.Requests, "GET /v1/tasks/1/logs?since=2026-12-07T10%3A00%3A00Z&stream=both&timestamps=true")

	env = clitest.NewEnv(t, url, false)
	api.Update(1, func(ts []*job.Task) { ts[0].State = job.Done })
	_, err = clitest.Exec(NewCmdLogs(env.F, nil), "1", "--stderr", "-f")
	require.NoError(t, err)
	require.Equal(t, "oops\n", env.Out.String())
	require.Contains(t, api.Requests, "GET /v1/tasks/1/logs?follow=true&stream=stderr")
	require.Empty(t, env.ErrOut.String())

	// Output the worker could not write is noted.
	env = clitest.NewEnv(t, url, false)
	api.Update(1, func(ts []*job.Task) { ts[0].Message = job.OutputIncomplete + "write /x: no space left on device" })
	_, err = clitest.Exec(NewCmdLogs(env.F, nil), "1", "--stdout")
	require.NoError(t, err)
	require.Equal(t, "raw \x00 bytes\n", env.Out.String())
	require.Equal(t, "berth: the output of 1 is incomplete: write /x: no space left on device\n", env.ErrOut.String())

	code, err := clitest.Exec(NewCmdLogs(env.F, nil), "5")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.EqualError(t, err, "no job 5")
}

func TestLogsTail(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	api.Add(&job.Job{State: job.Done}, &job.Task{State: job.Done})
	api.Logs["1"] = map[string]string{"stdout": "one\ntwo\nthree\nfour", "stderr": "a\nb\n"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--tail", "2", "--stdout", "1"}, "three\nfour"},
		{[]string{"--tail", "0", "1"}, ""},
		{[]string{"--tail", "9", "--stdout", "1"}, "one\ntwo\nthree\nfour"},
		{[]string{"--tail", "1", "--stderr", "1"}, "b\n"},
		{[]string{"--tail", "1", "-f", "--stderr", "1"}, "b\n"}, // then follows from its end: nothing more
	} {
		env := clitest.NewEnv(t, url, false)
		_, err := clitest.Exec(NewCmdLogs(env.F, nil), tc.args...)
		require.NoError(t, err)
		require.Equal(t, tc.want, env.Out.String(), "%q", tc.args)
	}
	env := clitest.NewEnv(t, url, false)
	code, err := clitest.Exec(NewCmdLogs(env.F, nil), "--tail", "-3", "1")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, `"--tail" flag`)
	code, err = clitest.Exec(NewCmdLogs(env.F, nil), "--since", "yesterday", "1")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, `invalid --since "yesterday"`)
	code, err = clitest.Exec(NewCmdLogs(env.F, nil), "--stdout", "--stderr", "1")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, "stdout")
}
