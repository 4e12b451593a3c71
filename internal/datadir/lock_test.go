package datadir

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLockHeld(t *testing.T) {
	t.Parallel()
	d := Dir(t.TempDir())
	require.False(t, d.ServerRunning(), "no lock file")
	f, err := os.Create(d.ServerLock())
	require.NoError(t, err)
	defer f.Close()
	require.False(t, d.ServerRunning(), "the file, not locked")
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))
	require.True(t, d.ServerRunning())
	other := filepath.Join(string(d), "other")
	require.NoError(t, os.WriteFile(other, nil, 0o600))
	held, err := LockHeld(other)
	require.NoError(t, err)
	require.False(t, held, "another file of the same device")
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_UN))
	require.False(t, d.ServerRunning())
}
