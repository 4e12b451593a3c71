package e2e

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/internal/testenv"
)

// TestDataFileModes starts berth serve under a 0022 and a 0000 umask, the
// second on an existing 0777 data directory: the directory ends 0700 and
// the files holding job environments or secrets 0600, whatever the umask;
// files found looser (a berth.db made 0644 behind its back) are restricted
// at the next start, with a warning in the log.
//
// Not parallel: the umask is the test process's, inherited by the server.
func TestDataFileModes(t *testing.T) {
	for _, mask := range []int{0o022, 0o000} {
		t.Run(fmt.Sprintf("umask%04o", mask), func(t *testing.T) {
			old := syscall.Umask(mask)
			defer syscall.Umask(old)
			home := testenv.ShortTempDir(t)
			if mask == 0 {
				require.NoError(t, os.Chmod(home, 0o777))
			}
			s := testenv.StartServerIn(t, home, "--listen", freePort(t))
			r := s.Berth("", "run", "-d", "--env", "SECRET=x", "--", "sh", "-c", "echo out; echo err >&2")
			id := submitted(t, r)
			require.Equal(t, 0, s.Berth("", "wait", fmt.Sprint(id)).Code)
			dir := datadir.Dir(home)
			check := func() {
				t.Helper()
				want := map[string]fs.FileMode{
					home: 0o700, dir.Jobs(): 0o700, dir.JobDir(id): 0o700,
					dir.DB(): 0o600, dir.DB() + "-wal": 0o600, dir.DB() + "-shm": 0o600,
					dir.Token(): 0o600, dir.NATSInfo(): 0o600, dir.WorkerIdentity(): 0o600,
					dir.TaskFile(id, 0, datadir.StdoutFile): 0o600, dir.TaskFile(id, 0, datadir.StderrFile): 0o600,
				}
				for p, m := range want {
					fi, err := os.Stat(p)
					require.NoError(t, err)
					require.Equal(t, m, fi.Mode().Perm(), "%s", filepath.Base(p))
				}
			}
			check()
			if mask == 0 {
				require.Contains(t, s.Log(), "path="+home+" mode=777", "the 0777 directory is restricted with a warning")
			} else {
				require.NotContains(t, s.Log(), "restricted to its owner")
			}

			s.Stop()
			require.NoError(t, os.Chmod(dir.DB(), 0o644))
			require.NoError(t, os.Chmod(home, 0o755))
			s.Start()
			check()
			require.Contains(t, s.Log(), "path="+dir.DB()+" mode=644")
		})
	}
}
