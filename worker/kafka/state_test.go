package kafka

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestState(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	s, err := openState(dir)
	require.NoError(t, err)
	require.Len(t, s.instance, 12)
	_, err = openState(dir)
	require.ErrorContains(t, err, "in use by another worker")

	_, ok, err := s.finished("job-1")
	require.NoError(t, err)
	require.False(t, ok)
	msg := []byte(`{"jobId":"job-1","status":"REJECTED"}`)
	require.NoError(t, s.storeFinished("job-1", msg))
	got, ok, err := s.finished("job-1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, msg, got)
	// A record that is not the job's (torn, or a hash collision) is no answer.
	require.NoError(t, os.WriteFile(s.finishedPath("job-2"), []byte(`{"jobId":"other"}`), 0o600))
	_, ok, _ = s.finished("job-2")
	require.False(t, ok)

	s.close()
	// The lock goes with the worker. (A process forked by another test in
	// the moment may hold the descriptor until it execs: try again.)
	var s2 *state
	require.Eventually(t, func() bool {
		s2, err = openState(dir)
		return err == nil
	}, 5*time.Second, 10*time.Millisecond, "the lock goes with the worker")
	defer s2.close()
	require.Equal(t, s.instance, s2.instance, "the instance ID stays")
	_, ok, _ = s2.finished("job-1")
	require.True(t, ok)

	// Pruning removes what is older than the window.
	old := time.Now().Add(-48 * time.Hour)
	require.NoError(t, os.Chtimes(s2.finishedPath("job-1"), old, old))
	n, err := s2.prune(time.Now().Add(-24 * time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, ok, _ = s2.finished("job-1")
	require.False(t, ok)
}
