package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
)

// TestLogsFollowRidesOutRestart: logs -f goes on across a restart of the
// server, where it was: every byte once.
func TestLogsFollowRidesOutRestart(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	gate := filepath.Join(testenv.ShortTempDir(t), "gate")
	id := fmt.Sprint(submitted(t, s.Berth("", "run", "-d", "--", "sh", "-c",
		fmt.Sprintf(`echo before; while [ ! -e %s ]; do sleep 0.05; done; echo after`, gate))))
	require.Eventually(t, func() bool { return s.Berth("", "logs", id).Stdout == "before\n" }, 30*time.Second, 20*time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan testenv.Result, 1)
	go func() { done <- s.BerthContext(ctx, "", "logs", "-f", id) }()
	time.Sleep(300 * time.Millisecond) // lets it connect; the test holds either way

	s.Kill() // the local worker and the job live on
	s.Start()
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	r := <-done
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "before\nafter\n", r.Stdout)

	r = s.Berth("", "logs", "--tail", "1", id)
	require.Equal(t, "after\n", r.Stdout)
}
