package process_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-run/berth/executor/process"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/stretchr/testify/require"
)

// TestOutputDiskFull writes output to a full disk (a tmpfs): the task ends
// as it did (exit 0), and its exit says the output is incomplete, whether
// the worker's drain writes the file or (an earlier attempt's file) the
// task itself does.
func TestOutputDiskFull(t *testing.T) {
	t.Parallel()
	disk := testenv.SmallDisk(t, 1<<20)
	e := process.New(process.Config{})
	drained := shSpec(t, "drained", "head -c 65536 /dev/zero")
	drained.Stdout, drained.Stderr = filepath.Join(disk, "new.out"), ""
	direct := shSpec(t, "direct", "head -c 65536 /dev/zero")
	direct.Stdout, direct.Stderr = filepath.Join(disk, "old.out"), ""
	require.NoError(t, os.WriteFile(direct.Stdout, []byte("old"), 0o600))
	testenv.FillDisk(t, disk)

	start(t, e, drained)
	x := wait(t, e, drained.ID)
	require.Equal(t, 0, x.ExitCode)
	require.ErrorContains(t, x.OutputErr, "no space left on device")

	start(t, e, direct)
	x = wait(t, e, direct.ID)
	require.NotEqual(t, 0, x.ExitCode, "head saw its write fail")
	require.ErrorContains(t, x.OutputErr, "the disk is full")
}
