package fleet

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/job"
)

func TestMarks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Attempt 1 (killed on w1) and attempt 2 (on w2) one after the other;
	// then task 8.0, whose attempt 1 wrote END after attempt 2 started.
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600))
	}
	write("7.0", "START 7 0 1 12 100.00 w1\nSTART 7 0 2 12 120.50 w2\nEND 7 0 2 12 121.50 w2\n")
	write("8.0", "START 8 0 1 40 10.00 w1\nSTART 8 0 2 41 11.00 w2\nEND 8 0 1 40 12.00 w1\nEND 8 0 2 41 13.00 w2\n")
	write("README", "not a task\n")
	marks, err := ReadMarks(dir)
	require.NoError(t, err)
	require.Len(t, marks, 2)
	seven := marks[TaskKey{7, 0}]
	require.Len(t, seven, 2)
	require.False(t, seven[0].Ended())
	require.True(t, seven[1].Ended())
	require.Equal(t, 121.5, seven[1].End)
	require.Empty(t, Overlaps(seven))
	eight := marks[TaskKey{8, 0}]
	o := Overlaps(eight)
	require.Len(t, o, 1)
	require.Equal(t, 1, o[0][0].Attempt)
	require.Equal(t, 2, o[0][1].Attempt)

	_, err = parseMarks("END 9 0 1 5 1.00 w1\n")
	require.ErrorContains(t, err, "END without its START")
	_, err = parseMarks("START 9 0 x 5 1.00 w1\n")
	require.ErrorContains(t, err, "bad number")
}

func TestCheckTask(t *testing.T) {
	t.Parallel()
	ended := Run{Attempt: 1, PID: 5, Host: "w1", End: 2, startLine: 0, endLine: 1}
	killed := Run{Attempt: 1, PID: 5, Host: "w1", End: -1, startLine: 0, endLine: -1}
	second := Run{Attempt: 2, PID: 6, Host: "w2", End: 3, startLine: 1, endLine: 2}
	task := func(state job.State, reason job.Reason, attempt int, history ...job.State) *api.TaskDetail {
		d := &api.TaskDetail{Task: job.Task{State: state, SubState: job.SubState{Kind: reason}, Info: job.Info{Attempt: attempt}}}
		for _, h := range history {
			d.History = append(d.History, api.Transition{State: h})
		}
		return d
	}
	cases := []struct {
		name       string
		tk         *api.TaskDetail
		rerunnable bool
		runs       []Run
		bad        string
	}{
		{"done once", task(job.Done, job.ReasonExitCode, 1, job.Running, job.Done), false, []Run{ended}, ""},
		{"rerun after a kill", task(job.Done, job.ReasonExitCode, 2, job.Running, job.Running, job.Done), true, []Run{killed, second}, ""},
		{"lost", task(job.Failed, job.ReasonLost, 1, job.Running, job.Failed), false, []Run{killed}, ""},
		{"silently done", task(job.Done, job.ReasonExitCode, 1, job.Running, job.Done), false, []Run{killed}, "did not run to its END"},
		{"done twice", task(job.Done, job.ReasonExitCode, 1, job.Done, job.Running, job.Done), true, []Run{ended}, "became Done 2 times"},
		{"not rerunnable ran twice", task(job.Done, job.ReasonExitCode, 2, job.Done), false, []Run{killed, second}, "started 2 times"},
		{"rerunnable lost", task(job.Failed, job.ReasonLost, 1, job.Failed), true, []Run{killed}, "ended Failed LOST"},
		{"still running", task(job.Running, job.ReasonNone, 1), true, []Run{killed}, "did not end"},
	}
	for _, tc := range cases {
		var rep Report
		var got []string
		checkTask(&rep, TaskKey{1, 0}, tc.tk, tc.rerunnable, tc.runs, func(_ TaskKey, format string, args ...any) {
			got = append(got, fmt.Sprintf(format, args...))
		})
		if tc.bad == "" {
			require.Empty(t, got, tc.name)
			continue
		}
		require.True(t, slices.ContainsFunc(got, func(m string) bool { return strings.Contains(m, tc.bad) }),
			"%s: want %q in %q", tc.name, tc.bad, got)
	}
}
