package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// TestStopGraceAndKill: a task that ignores SIGTERM ends after the grace
// given to stop, to the job, or at once with kill, not after the server's
// (here a minute, longer than the waits allow).
func TestStopGraceAndKill(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t, "--stop-grace", "60s", "--slots", "4")
	// SIG_IGN is inherited: neither sh nor its sleeps die of SIGTERM.
	deaf := []string{"--", "sh", "-c", `trap "" TERM; echo up; while :; do sleep 0.1; done`}
	running := func(flags ...string) string {
		t.Helper()
		id := fmt.Sprint(submitted(t, s.Berth("", append(append([]string{"run", "-d"}, flags...), deaf...)...)))
		require.Eventually(t, func() bool { return s.Berth("", "logs", id).Stdout == "up\n" }, 30*time.Second, 20*time.Millisecond)
		return id
	}
	stopped := running()
	jobGrace := running("--grace", "1s")
	killed := running()

	require.Equal(t, 0, s.Berth("", "stop", "--grace", "1s", stopped).Code)
	require.Equal(t, 0, s.Berth("", "stop", jobGrace).Code)
	require.Equal(t, 0, s.Berth("", "kill", killed).Code)
	for _, id := range []string{stopped, jobGrace, killed} {
		r := s.Berth("", "wait", "--timeout", "30s", id)
		require.Equal(t, 1, r.Code, "job %s ended Failed well before the server's grace: %s", id, r.Stdout+r.Stderr)
		tk := taskOf(t, s, id)
		require.Equal(t, job.ReasonCanceled, tk.SubState.Kind)
		require.Equal(t, "SIGKILL", tk.Signal, "job %s: SIGTERM was ignored", id)
	}

	// --signal sends another signal first, for programs that end on it.
	polite := fmt.Sprint(submitted(t, s.Berth("", "run", "-d", "--", "sh", "-c",
		`trap "echo got INT; exit 9" INT; trap "" TERM; echo up; while :; do sleep 0.1; done`)))
	require.Eventually(t, func() bool { return s.Berth("", "logs", polite).Stdout == "up\n" }, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, 0, s.Berth("", "stop", "--signal", "INT", polite).Code)
	r := s.Berth("", "wait", "--timeout", "30s", polite)
	require.Equal(t, 1, r.Code, r.Stdout+r.Stderr)
	require.Equal(t, "up\ngot INT\n", s.Berth("", "logs", polite).Stdout)
	tk := taskOf(t, s, polite)
	require.Equal(t, 9, *tk.ExitCode)
	require.Equal(t, job.ReasonCanceled, tk.SubState.Kind)

	// The job's grace also follows its time limit.
	limited := submitted(t, s.Berth("", append([]string{"run", "-d", "--time-limit", "1s", "--grace", "1s"}, deaf...)...))
	r = s.Berth("", "wait", "--timeout", "30s", fmt.Sprint(limited))
	require.Equal(t, 1, r.Code, r.Stdout+r.Stderr)
	require.Equal(t, job.ReasonTimeLimit, taskOf(t, s, fmt.Sprint(limited)).SubState.Kind)

	r = s.Berth("", "stop", "--grace", "-1s", stopped)
	require.Equal(t, 2, r.Code)
	require.Contains(t, r.Stderr, `invalid argument "-1s" for "--grace" flag`)
}
