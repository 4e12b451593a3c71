package ls

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
)

func TestNewCmdLsFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		want    Options
		wantErr string
	}{
		{name: "none", args: nil, want: Options{}},
		{name: "states", args: []string{"--state", "running,Done", "--state", "failed"},
			want: Options{States: []job.State{job.Running, job.Done, job.Failed}}},
		{name: "labels", args: []string{"--label", "a=1", "--label", "b="}, want: Options{Labels: map[string]string{"a": "1", "b": ""}}},
		{name: "since duration", args: []string{"--since", "1h"}, want: Options{Since: clitest.Now.Add(-time.Hour)}},
		{name: "since time", args: []string{"--since", "2026-01-02T03:04:05Z"}, want: Options{Since: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}},
		{name: "limit", args: []string{"--limit", "5", "--name", "x*", "--json"}, want: Options{Limit: 5, Name: "x*", JSON: true}},
		{name: "bad state", args: []string{"--state", "Runing"}, wantErr: `invalid argument "Runing" for "--state" flag: unknown state "Runing"`},
		{name: "bad label", args: []string{"--label", "novalue"}, wantErr: `invalid argument "novalue" for "--label" flag`},
		{name: "bad since", args: []string{"--since", "yesterday"}, wantErr: `invalid argument "yesterday" for "--since" flag`},
		{name: "bad limit", args: []string{"--limit", "-1"}, wantErr: `invalid argument "-1" for "--limit" flag: must be between 0`},
		{name: "all and limit", args: []string{"--all", "--limit", "3"}, wantErr: "--all and --limit exclude each other"},
		{name: "args", args: []string{"7"}, wantErr: "takes no arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := clitest.NewEnv(t, "http://unused:1", false)
			var got *Options
			cmd := NewCmdLs(env.F, func(_ context.Context, o *Options) error { got = o; return nil })
			code, err := clitest.Exec(cmd, tc.args...)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.Equal(t, cmdutil.ExitUsage, code)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want.States, got.States)
			require.Equal(t, tc.want.Labels, got.Labels)
			require.True(t, tc.want.Since.Equal(got.Since), "since %v", got.Since)
			require.Equal(t, tc.want.Limit, got.Limit)
			require.Equal(t, tc.want.Name, got.Name)
			require.Equal(t, tc.want.JSON, got.JSON)
		})
	}
}

// server holds a plain job that ended and an array that is running, one
// of its tasks failed, with output not yet received.
var server = clitest.Share(clitest.Options{NoWorker: true, Seed: func(f *clitest.Fixtures) {
	id := f.Job(job.Spec{Name: "build", Template: job.Template{Command: "true"}}, clitest.Now.Add(-3*time.Minute))
	f.Set(clitest.Now, &job.Task{JobID: id, State: job.Done, SubState: job.ExitCode(0)})
	id = f.Job(job.Spec{Name: "render", Array: &job.Array{Begin: 1, End: 3, Step: 1}, Template: job.Template{Command: "true"}},
		clitest.Now.Add(-2*time.Hour))
	f.Set(clitest.Now, &job.Task{JobID: id, Index: 1, State: job.Done, SubState: job.ExitCode(0)},
		&job.Task{JobID: id, Index: 2, State: job.Running, Info: job.Info{Attempt: 1, Worker: "w1"}},
		&job.Task{JobID: id, Index: 3, State: job.Failed, SubState: job.ExitCode(1)})
	f.Output(id, 1, datadir.StdoutFile, "unread\n")
}})

// empty has no jobs.
var empty = clitest.Share(clitest.Options{NoWorker: true})

func TestMain(m *testing.M) { clitest.Main(m) }

func TestLsTerminal(t *testing.T) {
	t.Parallel()
	env := server.Server(t).Env(t, true)
	code, err := clitest.Exec(NewCmdLs(env.F, nil))
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, ""+
		"ID  NAME    STATE    TASKS               REASON       SUBMITTED      UNREAD\n"+
		"1   build   Done     -                   EXIT_CODE 0  3 minutes ago  no\n"+
		"2   render  Running  1/3 done, 1 failed  -            2 hours ago    yes\n",
		env.Out.String())
}

func TestLsTSV(t *testing.T) {
	t.Parallel()
	env := server.Server(t).Env(t, false)
	code, err := clitest.Exec(NewCmdLs(env.F, nil), "--state", "running", "--since", "1d")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "2\trender\tRunning\t1/3 done, 1 failed\t\t2026-03-01T10:00:00Z\ttrue\n", env.Out.String())
}

func TestLsJSONAndLimit(t *testing.T) {
	t.Parallel()
	env := server.Server(t).Env(t, false)
	_, err := clitest.Exec(NewCmdLs(env.F, nil), "--json", "--limit", "1")
	require.NoError(t, err)
	var jobs []job.Job
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &jobs))
	require.Len(t, jobs, 1)
	require.Equal(t, "build", jobs[0].Name)
	// The table says REASON and UNREAD; JSON keeps the API's names.
	require.Contains(t, env.Out.String(), `"has_more_data": false`)
	require.Contains(t, env.Out.String(), `"substate": {`)
}

func TestLsEmpty(t *testing.T) {
	t.Parallel()
	env := empty.Server(t).Env(t, false)
	_, err := clitest.Exec(NewCmdLs(env.F, nil), "--json")
	require.NoError(t, err)
	require.Equal(t, "[]\n", env.Out.String())
}

func TestLsNoServer(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "127.0.0.1:1", false)
	code, err := clitest.Exec(NewCmdLs(env.F, nil))
	require.Equal(t, cmdutil.ExitNoServer, code)
	require.EqualError(t, err, "no berth server at 127.0.0.1:1; start one with `berth serve`")
}
