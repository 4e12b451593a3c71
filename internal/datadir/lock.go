package datadir

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// ServerRunning reports whether a berth server holds the directory's
// server lock: one runs, though its API may not answer yet.
func (d Dir) ServerRunning() bool {
	held, err := LockHeld(d.ServerLock())
	return err == nil && held
}

// LockHeld reports whether some process holds a flock on path, without
// taking it (taking it, even for a moment, could make the holder-to-be fail
// to start): it looks the file up in /proc/locks.
func LockHeld(path string) (bool, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return false, nil
		}
		return false, err
	}
	// The kernel's device number split as /proc/locks prints it (the
	// encoding of glibc's major and minor).
	dev := uint64(st.Dev)
	major := (dev>>8)&0xfff | (dev>>32)&0xfffff000
	minor := dev&0xff | (dev>>12)&0xffffff00
	want := fmt.Sprintf("%02x:%02x:%d", major, minor, st.Ino)
	b, err := os.ReadFile("/proc/locks")
	if err != nil {
		return false, err
	}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		// "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; blocked
		// waiters have "->" in second place.
		if len(f) >= 6 && f[1] == "FLOCK" && f[5] == want {
			return true, nil
		}
	}
	return false, nil
}
