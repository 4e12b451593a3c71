package show

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/job"
)

func TestNewCmdShowArgs(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "http://unused:1", false)
	var got *Options
	_, err := clitest.Exec(NewCmdShow(env.F, func(_ context.Context, o *Options) error { got = o; return nil }), "4.2", "--json")
	require.NoError(t, err)
	require.Equal(t, job.Ref{Job: 4, Index: 2, HasIndex: true}, got.Ref)
	require.True(t, got.JSON)
	code, _ := clitest.Exec(NewCmdShow(env.F, nil), "4", "5")
	require.Equal(t, cmdutil.ExitUsage, code)
	code, _ = clitest.Exec(NewCmdShow(env.F, nil), "0")
	require.Equal(t, cmdutil.ExitUsage, code)
}

func setup(t *testing.T) (*clitest.API, string) {
	api, url := clitest.NewAPI(t)
	start, end := clitest.Now.Add(-90*time.Second), clitest.Now.Add(-30*time.Second)
	code := 0
	api.Add(&job.Job{Spec: job.Spec{Name: "build", Pool: "default", Labels: map[string]string{"b": "2", "a": "1"},
		Template: job.Template{Command: "sh", Args: []string{"-c", "echo it's"}, TimeLimit: job.Duration(time.Hour)}},
		SubmittedAt: clitest.Now.Add(-2 * time.Minute), FinishedAt: &end},
		&job.Task{State: job.Done, SubState: job.ExitCode(0), Info: job.Info{Attempt: 1, Worker: "w1", Host: "h1", PID: 42,
			ExitCode: &code, SubmittedAt: clitest.Now.Add(-2 * time.Minute), StartedAt: &start, FinishedAt: &end,
			CPUTime: job.Duration(1500 * time.Millisecond), MaxRSS: 3 << 20, Stdout: "/d/1/0/stdout", Stderr: "/d/1/0/stderr"}})
	api.History["1"] = []client.Transition{
		{State: job.Queued, Time: clitest.Now.Add(-2 * time.Minute)},
		{Attempt: 1, State: job.Running, Time: start},
		{Attempt: 1, State: job.Done, SubState: job.ExitCode(0), Time: end},
	}
	api.Add(&job.Job{Spec: job.Spec{Name: "each", Inputs: []string{"a", "b"}, Template: job.Template{Command: "gzip", Args: []string{"{}"}}}},
		&job.Task{Index: 1, State: job.Done, Info: job.Info{Input: "a", Attempt: 1, ExitCode: &code, StartedAt: &start, FinishedAt: &end}},
		&job.Task{Index: 2, State: job.Queued, Info: job.Info{Input: "b"}})
	return api, url
}

func TestShowPlainTSV(t *testing.T) {
	t.Parallel()
	_, url := setup(t)
	env := clitest.NewEnv(t, url, false)
	_, err := clitest.Exec(NewCmdShow(env.F, nil), "1")
	require.NoError(t, err)
	require.Equal(t, `Job:         1
Name:        build
State:       Done EXIT_CODE 0
Command:     sh -c 'echo it'\''s'
Time limit:  1h0m0s
Labels:      a=1 b=2
Pool:        default
Submitted:   2026-03-01T11:58:00Z
Finished:    2026-03-01T11:59:30Z
Unread:      false

Task:        1
State:       Done EXIT_CODE 0
Attempt:     1
Worker:      w1
Host:        h1
PID:         42
Exit code:   0
Submitted:   2026-03-01T11:58:00Z
Started:     2026-03-01T11:58:30Z
Finished:    2026-03-01T11:59:30Z
Duration:    1m0s
CPU:         1.5s
Max RSS:     3145728
Stdout:      /d/1/0/stdout
Stderr:      /d/1/0/stderr

History:
2026-03-01T11:58:00Z	0	Queued	
2026-03-01T11:58:30Z	1	Running	
2026-03-01T11:59:30Z	1	Done	EXIT_CODE 0
`, env.Out.String())
}

func TestShowArrayTerminal(t *testing.T) {
	t.Parallel()
	_, url := setup(t)
	env := clitest.NewEnv(t, url, true)
	_, err := clitest.Exec(NewCmdShow(env.F, nil), "2")
	require.NoError(t, err)
	require.Contains(t, env.Out.String(), "Tasks:       1/2 done\n")
	require.Contains(t, env.Out.String(), "Inputs:      2\n")
	require.Contains(t, env.Out.String(), ""+
		"INDEX  INPUT  STATE   REASON  EXIT  ATTEMPT  WORKER  DURATION\n"+
		"1      a      Done    -       0     1        -       1m0s\n"+
		"2      b      Queued  -       -     0        -       -\n")
}

func TestShowJSON(t *testing.T) {
	t.Parallel()
	_, url := setup(t)
	env := clitest.NewEnv(t, url, false)
	_, err := clitest.Exec(NewCmdShow(env.F, nil), "1", "--json")
	require.NoError(t, err)
	var got struct {
		Job   job.Job             `json:"job"`
		Tasks []client.TaskDetail `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &got))
	require.Equal(t, "build", got.Job.Name)
	require.Len(t, got.Tasks, 1)
	require.Len(t, got.Tasks[0].History, 3)
	require.Equal(t, 42, got.Tasks[0].PID)

	env = clitest.NewEnv(t, url, false)
	code, err := clitest.Exec(NewCmdShow(env.F, nil), "2.7")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.EqualError(t, err, "no task 2.7")
}

// An array of more than TasksShownMax tasks is summed up by state; --tasks
// lists them, --limit and --after a page.
func TestShowLargeArray(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	var tasks []*job.Task
	for i := 1; i <= 250; i++ {
		st := job.Queued
		if i <= 3 {
			st = job.Done
		}
		tasks = append(tasks, &job.Task{Index: i, State: st})
	}
	j := api.Add(&job.Job{Spec: job.Spec{Name: "big", Array: &job.Array{Begin: 1, End: 250, Step: 1}}, TaskCount: 250}, tasks...)
	ref := strconv.FormatInt(j.ID, 10)

	env := clitest.NewEnv(t, url, false)
	_, err := clitest.Exec(NewCmdShow(env.F, nil), ref)
	require.NoError(t, err)
	require.Contains(t, env.Out.String(), "\n\nQueued\t247\nDone\t3\n\n250 tasks; list them with --tasks")
	require.NotContains(t, env.Out.String(), "\n1\tDone")

	env = clitest.NewEnv(t, url, false)
	_, err = clitest.Exec(NewCmdShow(env.F, nil), ref, "--limit", "2", "--after", "3")
	require.NoError(t, err)
	require.Contains(t, env.Out.String(), "\n\n4\tQueued\t\t\t0\t\t\n5\tQueued\t\t\t0\t\t\n")
	require.NotContains(t, env.Out.String(), "\n6\t")

	env = clitest.NewEnv(t, url, false)
	_, err = clitest.Exec(NewCmdShow(env.F, nil), ref, "--tasks", "--json")
	require.NoError(t, err)
	var got Shown
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &got))
	require.Len(t, got.Tasks, 250)
}
