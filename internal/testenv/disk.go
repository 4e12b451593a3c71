package testenv

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// SmallDisk mounts a tmpfs of size bytes on a new temporary directory (a
// short path, see ShortTempDir) and returns it; it is unmounted at the end
// of the test. Mounting needs root
// (or CAP_SYS_ADMIN): without it the test is skipped, or fails if
// BERTH_REQUIRE_TMPFS is set.
func SmallDisk(t testing.TB, size int64) string {
	t.Helper()
	return SmallDiskAt(t, ShortTempDir(t), size)
}

// SmallDiskAt is SmallDisk on the existing directory dir.
func SmallDiskAt(t testing.TB, dir string, size int64) string {
	t.Helper()
	err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)+",mode=0700")
	if err != nil {
		if os.Getenv("BERTH_REQUIRE_TMPFS") != "" {
			t.Fatalf("mounting a tmpfs on %s: %v", dir, err)
		}
		t.Skipf("cannot mount a tmpfs (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// FillDisk fills the file system of dir until a write fails with ENOSPC,
// with a file in dir that Free removes.
func FillDisk(t testing.TB, dir string) *Filler {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for len(buf) > 0 {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			buf = buf[:len(buf)/2] // down to the last bytes free
		}
	}
	return &Filler{t: t, path: path}
}

// Filler is a file taking all the space of a file system.
type Filler struct {
	t    testing.TB
	path string
}

// Free removes the file, freeing the space.
func (f *Filler) Free() {
	f.t.Helper()
	if err := os.Remove(f.path); err != nil {
		f.t.Fatal(err)
	}
}
