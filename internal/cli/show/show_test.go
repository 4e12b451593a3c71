package show

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

// server holds a job that ran once, and an array of inputs, one done.
var server = clitest.Share(clitest.Options{NoWorker: true, Seed: func(f *clitest.Fixtures) {
	start, end := clitest.Now.Add(-90*time.Second), clitest.Now.Add(-30*time.Second)
	code := 0
	id := f.Job(job.Spec{Name: "build", Pool: "default", Labels: map[string]string{"b": "2", "a": "1"},
		Template: job.Template{Command: "sh", Args: []string{"-c", "echo it's"}, TimeLimit: job.Duration(time.Hour)}},
		clitest.Now.Add(-2*time.Minute))
	info := job.Info{Attempt: 1, Worker: "w1", Host: "h1", PID: 42, StartedAt: &start}
	f.Set(start, &job.Task{JobID: id, State: job.Running, Info: info})
	info.ExitCode, info.FinishedAt, info.CPUTime, info.MaxRSS = &code, &end, job.Duration(1500*time.Millisecond), 3<<20
	info.Stdout, info.Stderr = "/d/1/0/stdout", "/d/1/0/stderr"
	f.Set(end, &job.Task{JobID: id, State: job.Done, SubState: job.ExitCode(0), Info: info})

	id = f.Job(job.Spec{Name: "each", Inputs: []string{"a", "b"}, Template: job.Template{Command: "gzip", Args: []string{"{}"}}},
		clitest.Now.Add(-2*time.Minute))
	f.Set(end, &job.Task{JobID: id, Index: 1, State: job.Done, SubState: job.ExitCode(0),
		Info: job.Info{Input: "a", Attempt: 1, ExitCode: &code, StartedAt: &start, FinishedAt: &end}})
}})

func TestMain(m *testing.M) { clitest.Main(m) }

func TestShowPlainTSV(t *testing.T) {
	t.Parallel()
	env := server.Server(t).Env(t, false)
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
	env := server.Server(t).Env(t, true)
	_, err := clitest.Exec(NewCmdShow(env.F, nil), "2")
	require.NoError(t, err)
	require.Contains(t, env.Out.String(), "Tasks:       1/2 done\n")
	require.Contains(t, env.Out.String(), "Inputs:      2\n")
	require.Contains(t, env.Out.String(), ""+
		"INDEX  INPUT  STATE   REASON       EXIT  ATTEMPT  WORKER  DURATION\n"+
		"1      a      Done    EXIT_CODE 0  0     1        -       1m0s\n"+
		"2      b      Queued  -            -     0        -       -\n")
	require.Contains(t, env.Out.String(), "Waiting:     no live worker in pool default\n")
}

func TestShowJSON(t *testing.T) {
	t.Parallel()
	env := server.Server(t).Env(t, false)
	_, err := clitest.Exec(NewCmdShow(env.F, nil), "1", "--json")
	require.NoError(t, err)
	var got struct {
		Job   job.Job          `json:"job"`
		Tasks []api.TaskDetail `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &got))
	require.Equal(t, "build", got.Job.Name)
	require.Len(t, got.Tasks, 1)
	require.Len(t, got.Tasks[0].History, 3)
	require.Equal(t, 42, got.Tasks[0].PID)

	env = server.Server(t).Env(t, false)
	code, err := clitest.Exec(NewCmdShow(env.F, nil), "2.7")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.EqualError(t, err, "no task 2.7")
}

// TestShowOpenJD shows an OpenJD job as its fields and a row per step's
// job; --json carries the steps.
func TestShowOpenJD(t *testing.T) {
	t.Parallel()
	s := clitest.StartServer(t, clitest.Options{NoWorker: true})
	res, err := s.Client(t).SubmitOpenJD(context.Background(), &job.OpenJDJob{Template: `specificationVersion: jobtemplate-2023-09
name: Film
steps:
- name: Render
  parameterSpace:
    taskParameterDefinitions: [{name: F, type: INT, range: "1-3"}]
  script: {actions: {onRun: {command: "true"}}}
- name: Encode
  dependencies: [{dependsOn: Render}]
  script: {actions: {onRun: {command: "true"}}}
`})
	require.NoError(t, err)
	env := s.Env(t, false)
	_, err = clitest.Exec(NewCmdShow(env.F, nil), fmt.Sprint(res.Job))
	require.NoError(t, err)
	out := env.Out.String()
	require.Contains(t, out, "Name:        Film\nState:       Queued\nWaiting:     no live worker in pool default\nTasks:       0/4 done\n")
	require.NotContains(t, out, "Command:")
	require.Contains(t, out, fmt.Sprintf("OpenJD:      an OpenJD job; its steps are jobs %d, %d\n", res.Steps[0].Job, res.Steps[1].Job))
	require.Contains(t, out, fmt.Sprintf("\n%d\tRender\tQueued\t3\t0\t0\tfalse\n%d\tEncode\tQueued\t1\t0\t0\tfalse\n",
		res.Steps[0].Job, res.Steps[1].Job))

	env = s.Env(t, false)
	_, err = clitest.Exec(NewCmdShow(env.F, nil), fmt.Sprint(res.Job), "--json")
	require.NoError(t, err)
	var shown Shown
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &shown))
	require.Equal(t, []int64{res.Steps[0].Job, res.Steps[1].Job}, shown.Job.Steps)
	require.Len(t, shown.Steps, 2)
	require.Equal(t, "Film/Encode", shown.Steps[1].Name)
	require.Empty(t, shown.Tasks)
}
