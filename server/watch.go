package server

import (
	"errors"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// fileWatcher signals on C whenever a file may have grown or appeared. It
// watches the file with inotify; while the file (or its directories) do not
// exist yet, it watches the deepest existing ancestor for creations and
// moves deeper as they appear.
type fileWatcher struct {
	C    <-chan struct{}
	f    *os.File
	fd   int
	path string
	// chain is path and its ancestors, deepest first, down to stopAt.
	chain []string
}

// newFileWatcher watches path; stopAt is the highest ancestor to watch.
func newFileWatcher(path, stopAt string) (*fileWatcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	c := make(chan struct{}, 1)
	// A non-blocking fd makes os.File use the runtime poller: Read waits
	// without a thread, and Close ends it.
	w := &fileWatcher{C: c, f: os.NewFile(uintptr(fd), "inotify"), fd: fd, path: path}
	for p := path; ; p = filepath.Dir(p) {
		w.chain = append(w.chain, p)
		if p == stopAt || p == filepath.Dir(p) {
			break
		}
	}
	if err := w.arm(); err != nil {
		w.f.Close()
		return nil, err
	}
	go w.read(c)
	return w, nil
}

// arm watches the file if it exists, else the deepest existing ancestor;
// after watching a directory it looks again, since what it waits for may
// have appeared just before the watch began.
func (w *fileWatcher) arm() error {
	for {
		i := w.deepest()
		if i < 0 {
			return errors.New("no directory to watch for " + w.path)
		}
		mask := uint32(unix.IN_CREATE | unix.IN_MOVED_TO)
		if i == 0 {
			mask = unix.IN_MODIFY | unix.IN_CLOSE_WRITE
		}
		if _, err := unix.InotifyAddWatch(w.fd, w.chain[i], mask); err != nil {
			if errors.Is(err, unix.ENOENT) {
				continue // removed meanwhile: look again
			}
			return os.NewSyscallError("inotify_add_watch", err)
		}
		if i == 0 || w.deepest() == i {
			return nil
		}
	}
}

// deepest returns the index in chain of the deepest existing path, -1 if none.
func (w *fileWatcher) deepest() int {
	for i, p := range w.chain {
		if _, err := os.Stat(p); err == nil {
			return i
		}
	}
	return -1
}

// read drains inotify events, re-arms and signals, until Close.
func (w *fileWatcher) read(c chan<- struct{}) {
	buf := make([]byte, 4096)
	for {
		if _, err := w.f.Read(buf); err != nil {
			return
		}
		_ = w.arm() // a failure leaves the current watches, which still signal
		select {
		case c <- struct{}{}:
		default: // a signal is pending already
		}
	}
}

// Close stops watching.
func (w *fileWatcher) Close() error { return w.f.Close() }
