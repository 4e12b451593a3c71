package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
)

// TestSelectJobs acts on jobs by label, state and name instead of IDs,
// through the real server: ls -q, stop, wait, receive and rm.
func TestSelectJobs(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t, "--slots", "8")
	var team []string
	for range 3 {
		r := s.Berth("", "run", "-d", "--name", "sel-a", "--label", "team=a", "--", "sh", "-c", "echo hi; sleep 30")
		require.Equal(t, 0, r.Code, r.Stderr)
		team = append(team, strings.TrimSpace(r.Stdout))
	}
	other := s.Berth("", "run", "-d", "--label", "team=b", "--", "sleep", "30")
	require.Equal(t, 0, other.Code, other.Stderr)

	r := s.Berth("", "ls", "-q", "--label", "team=a")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, strings.Join(team, "\n")+"\n", r.Stdout)
	r = s.Berth("", "ls", "-q", "--name", "sel-*", "--label", "team=b")
	require.Equal(t, "", r.Stdout, "no job is both")

	for _, id := range team { // each has printed before it is stopped
		require.Eventually(t, func() bool { return s.Berth("", "logs", id).Stdout == "hi\n" }, 20*time.Second, 20*time.Millisecond)
	}
	r = s.Berth("", "stop", "--label", "team=a")
	require.Equal(t, 0, r.Code, r.Stderr)
	r = s.Berth("", "wait", "--label", "team=a", "--timeout", "30s")
	require.Equal(t, 1, r.Code, "they ended Failed (canceled): %s", r.Stdout+r.Stderr)
	require.Equal(t, 3, strings.Count(r.Stdout, "CANCELED"), r.Stdout)
	r = s.Berth("", "receive", "--name", "sel-a")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, 3, strings.Count(r.Stdout, "hi\n"), r.Stdout)

	r = s.Berth("", "rm", "--label", "team=a", "--state", "failed")
	require.Equal(t, 0, r.Code, r.Stderr)
	r = s.Berth("", "ls", "-q")
	require.Equal(t, strings.TrimSpace(other.Stdout)+"\n", r.Stdout, "only the other team's job is left, still running")

	// IDs or a selection, one of them.
	r = s.Berth("", "stop", "1", "--label", "team=b")
	require.Equal(t, 2, r.Code)
	require.Contains(t, r.Stderr, "not both")
	r = s.Berth("", "wait")
	require.Equal(t, 2, r.Code)
	require.Contains(t, r.Stderr, "select jobs with --label")
	require.Equal(t, 0, s.Berth("", "stop", "--all").Code)
}
