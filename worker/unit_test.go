package worker

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
)

func TestTaskEnv(t *testing.T) {
	t.Parallel()
	worker := map[string]string{"PATH": "/bin", "HOME": "/home/w", "NATS_TOKEN": "secret", "TZ": "UTC"}
	lookup := func(k string) (string, bool) { v, ok := worker[k]; return v, ok }
	w := &dispatch.Work{
		Dir:      "/data/jobs/1/0",
		Env:      map[string]string{"BERTH_JOB_ID": "1", "A": "berth"},
		Template: job.Template{Env: map[string]string{"A": "template", "HOME": "/tmp", EnvResult: "/elsewhere"}},
	}
	require.Equal(t, []string{
		"A=template",
		"BERTH_JOB_ID=1",
		"BERTH_RESULT=/data/jobs/1/0/result.jsonl",
		"HOME=/tmp",
		"PATH=/bin",
		"TZ=UTC",
	}, taskEnv(w, "/data/jobs/1/0/result.jsonl", lookup))

	none := func(string) (string, bool) { return "", false }
	require.Contains(t, taskEnv(w, "/j/1/result.jsonl", none), "PATH="+defaultPath)

	// A container job keeps its image's environment: nothing of the worker's.
	require.Equal(t, []string{
		"A=template",
		"BERTH_JOB_ID=1",
		"BERTH_RESULT=" + containerResult,
		"HOME=/tmp",
	}, taskEnv(w, containerResult, nil))
}

func TestEndOf(t *testing.T) {
	t.Parallel()
	code := func(n int) *int { return &n }
	for _, tc := range []struct {
		name   string
		exit   executor.Exit
		reason job.Reason
		want   dispatch.End
	}{
		{"done", executor.Exit{ExitCode: 0}, "",
			dispatch.End{State: job.Done, SubState: job.ExitCode(0), ExitCode: code(0)}},
		{"exit code", executor.Exit{ExitCode: 2}, "",
			dispatch.End{State: job.Failed, SubState: job.ExitCode(2), ExitCode: code(2)}},
		{"signal", executor.Exit{ExitCode: -1, Signal: "SIGKILL"}, "",
			dispatch.End{State: job.Failed, SubState: job.Signal("SIGKILL"), Signal: "SIGKILL"}},
		{"time limit", executor.Exit{ExitCode: -1, Signal: "SIGTERM"}, job.ReasonTimeLimit,
			dispatch.End{State: job.Failed, SubState: job.SubState{Kind: job.ReasonTimeLimit}, Signal: "SIGTERM"}},
		{"canceled but exited 0", executor.Exit{ExitCode: 0}, job.ReasonCanceled,
			dispatch.End{State: job.Failed, SubState: job.SubState{Kind: job.ReasonCanceled}, ExitCode: code(0)}},
		{"oom", executor.Exit{ExitCode: -1, Signal: "SIGKILL", OOMKilled: true}, "",
			dispatch.End{State: job.Failed, SubState: job.SubState{Kind: job.ReasonOOM}, Signal: "SIGKILL"}},
		{"lost", executor.Exit{ExitCode: -1, Err: errors.New("gone")}, "",
			dispatch.End{State: job.Failed, SubState: job.SubState{Kind: job.ReasonLost}, Message: "gone"}},
	} {
		require.Equal(t, tc.want, *endOf(&tc.exit, tc.reason), tc.name)
	}
}
