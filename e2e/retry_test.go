package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// attemptStarts reads the start times a job's attempts appended to file.
func attemptStarts(t *testing.T, file string) []time.Time {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	var out []time.Time
	for _, l := range strings.Fields(string(data)) {
		ns, err := strconv.ParseInt(l, 10, 64)
		require.NoError(t, err, "%q", l)
		out = append(out, time.Unix(0, ns))
	}
	return out
}

// TestRetryBackoff: a rerunnable job that keeps failing runs again after
// waits that double (1s, 2s, 4s, less jitter of up to half), as the
// attempts' own start times show, and its history records every failed
// attempt with its reason and when the next was due.
func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	dir := testenv.ShortTempDir(t)
	starts := filepath.Join(dir, "starts")
	id := submitted(t, s.Berth("", "run", "-d", "--rerunnable", "--max-attempts", "4", "--retry-delay", "1s",
		"--retry-delay-max", "1m", "--", "sh", "-c", "date +%s%N >> "+starts+"; exit 3"))
	r := s.Berth("", "wait", "--timeout", "60s", fmt.Sprint(id))
	require.Equal(t, 1, r.Code, "%s %s", r.Stdout, r.Stderr)

	at := attemptStarts(t, starts)
	require.Len(t, at, 4)
	for k := 1; k < len(at); k++ {
		bound := time.Second << (k - 1)
		gap := at[k].Sub(at[k-1])
		require.GreaterOrEqual(t, gap, bound/2, "wait before attempt %d: %s, want at least half of %s", k+1, gap, bound)
	}

	d, err := s.Client().Task(context.Background(), job.Ref{Job: id})
	require.NoError(t, err)
	require.Equal(t, job.Failed, d.State)
	require.Equal(t, 4, d.Attempt)
	var failed []int
	for _, h := range d.History {
		switch {
		case h.SubState.Kind == job.ReasonRetrying:
			require.Equal(t, job.Requeued, h.State)
			require.Equal(t, "EXIT_CODE 3", h.SubState.Value)
			require.NotNil(t, h.RetryAt, "%+v", h)
			require.True(t, h.RetryAt.After(h.Time), "%+v", h)
			failed = append(failed, h.Attempt)
		case h.State == job.Failed:
			require.Equal(t, job.ExitCode(3), h.SubState)
			failed = append(failed, h.Attempt)
		}
	}
	require.Equal(t, []int{1, 2, 3, 4}, failed, "every failed attempt is in the history: %+v", d.History)

	// show says when a waiting task's next attempt is due.
	slow := submitted(t, s.Berth("", "run", "-d", "--rerunnable", "--max-attempts", "2", "--retry-delay", "1h",
		"--", "false"))
	require.Eventually(t, func() bool {
		return taskOf(t, s, fmt.Sprint(slow)).SubState.Kind == job.ReasonRetrying
	}, 30*time.Second, 50*time.Millisecond)
	r = s.Berth("", "show", fmt.Sprint(slow))
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "Next attempt:")
	require.Contains(t, r.Stdout, "Requeued RETRYING EXIT_CODE 1")
}

// TestRetrySurvivesRestart: the wait for a next attempt is stored: after a
// restart of the server the attempt still waits for its due time, then
// runs.
func TestRetrySurvivesRestart(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	dir := testenv.ShortTempDir(t)
	starts := filepath.Join(dir, "starts")
	id := submitted(t, s.Berth("", "run", "-d", "--rerunnable", "--max-attempts", "2", "--retry-delay", "4s",
		"--retry-delay-max", "4s", "--", "sh", "-c", "date +%s%N >> "+starts+"; exit 1"))
	var due time.Time
	require.Eventually(t, func() bool {
		tk := taskOf(t, s, fmt.Sprint(id))
		if tk.RetryAt != nil {
			due = *tk.RetryAt
		}
		return tk.RetryAt != nil
	}, 30*time.Second, 50*time.Millisecond)
	s.Kill()
	s.Start()
	r := s.Berth("", "wait", "--timeout", "60s", fmt.Sprint(id))
	require.Equal(t, 1, r.Code, "%s %s", r.Stdout, r.Stderr)
	at := attemptStarts(t, starts)
	require.Len(t, at, 2)
	require.False(t, at[1].Before(due), "second attempt at %s, due at %s", at[1], due)
	require.Equal(t, 2, taskOf(t, s, fmt.Sprint(id)).Attempt)
}
