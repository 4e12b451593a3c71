package server

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Log followers wait on inotify for their file to grow. A process may hold
// few inotify instances (fs.inotify.max_user_instances, 128 by default), so
// all followers share one, the server's watchHub, which keeps one watch per
// path, counted by the followers on it. Where inotify is not to be had (no
// instance or watch left) a follower polls instead.

// pollInterval is how often a follower without inotify looks at its file.
const pollInterval = 250 * time.Millisecond

// watchHub is one inotify instance shared by the server's file watchers.
// It is opened by the first watcher and closed with the last.
type watchHub struct {
	mu     sync.Mutex
	f      *os.File // nil while no watcher uses it
	fd     int
	users  int
	byWD   map[int32]*watched
	byPath map[string]*watched
	// disabled makes open fail, as when no instance is left (tests).
	disabled bool
}

// watched is one inotify watch and the watchers it signals.
type watched struct {
	wd    int32
	paths []string
	subs  map[*fileWatcher]struct{}
}

// open starts using the hub, opening its inotify instance if need be.
func (h *watchHub) open() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.disabled {
		return errors.New("inotify disabled")
	}
	if h.f == nil {
		fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
		if err != nil {
			return os.NewSyscallError("inotify_init1", err)
		}
		// A non-blocking fd makes os.File use the runtime poller: Read
		// waits without a thread, and Close ends it.
		h.f, h.fd = os.NewFile(uintptr(fd), "inotify"), fd
		h.byWD, h.byPath = map[int32]*watched{}, map[string]*watched{}
		go h.read(h.f)
	}
	h.users++
	return nil
}

// release stops using the hub; the last user closes its instance.
func (h *watchHub) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.users--; h.users == 0 {
		h.f.Close()
		h.f, h.byWD, h.byPath = nil, nil, nil
	}
}

// watch subscribes w to path's events of mask, adding a watch if the path
// has none that covers mask.
func (h *watchHub) watch(w *fileWatcher, path string, mask uint32) (*watched, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.byPath[path]; e != nil {
		e.subs[w] = struct{}{}
		return e, nil
	}
	wd, err := unix.InotifyAddWatch(h.fd, path, mask|unix.IN_MASK_ADD)
	if err != nil {
		return nil, err
	}
	e := h.byWD[int32(wd)] // the same file by another name
	if e == nil {
		e = &watched{wd: int32(wd), subs: map[*fileWatcher]struct{}{}}
		h.byWD[e.wd] = e
	}
	e.paths = append(e.paths, path)
	h.byPath[path] = e
	e.subs[w] = struct{}{}
	return e, nil
}

// unwatch unsubscribes w from e, removing the watch once nobody is on it.
func (h *watchHub) unwatch(w *fileWatcher, e *watched) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(e.subs, w)
	if len(e.subs) == 0 && h.byWD[e.wd] == e {
		_, _ = unix.InotifyRmWatch(h.fd, uint32(e.wd))
		h.forgetLocked(e)
	}
}

func (h *watchHub) forgetLocked(e *watched) {
	delete(h.byWD, e.wd)
	for _, p := range e.paths {
		if h.byPath[p] == e {
			delete(h.byPath, p)
		}
	}
}

// read drains f's events and wakes the watchers they concern, until f is
// closed.
func (h *watchHub) read(f *os.File) {
	buf := make([]byte, 64<<10)
	for {
		n, err := f.Read(buf)
		if err != nil {
			return
		}
		woken := map[*fileWatcher]struct{}{}
		h.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			off += unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(buf[off+12:]))
			e := h.byWD[wd]
			if e == nil {
				continue
			}
			for w := range e.subs {
				woken[w] = struct{}{}
			}
			if mask&unix.IN_IGNORED != 0 {
				// The kernel dropped the watch (its file is gone): its
				// watchers arm again below.
				h.forgetLocked(e)
			}
		}
		h.mu.Unlock()
		for w := range woken {
			w.wake()
		}
	}
}

// fileWatcher signals on C whenever a file may have grown or appeared. It
// watches the file; while the file (or its directories) do not exist yet, it
// watches the deepest existing ancestor for creations and moves deeper as
// they appear.
type fileWatcher struct {
	C    <-chan struct{}
	c    chan struct{}
	hub  *watchHub
	path string
	// chain is path and its ancestors, deepest first, down to stopAt.
	chain []string

	mu     sync.Mutex // serializes arm and Close
	cur    *watched
	closed bool
	poll   *time.Ticker // set when polling instead of watching
	done   chan struct{}
}

// newFileWatcher watches path through hub; stopAt is the highest ancestor
// to watch. Without inotify it polls.
func newFileWatcher(hub *watchHub, path, stopAt string) (*fileWatcher, error) {
	c := make(chan struct{}, 1)
	w := &fileWatcher{C: c, c: c, hub: hub, path: path, done: make(chan struct{})}
	for p := path; ; p = filepath.Dir(p) {
		w.chain = append(w.chain, p)
		if p == stopAt || p == filepath.Dir(p) {
			break
		}
	}
	if hub.open() != nil {
		w.hub = nil
		w.startPolling()
		return w, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.armLocked(); err != nil {
		w.releaseLocked()
		if errors.Is(err, errNoWatch) {
			w.startPolling()
			return w, nil
		}
		return nil, err
	}
	return w, nil
}

// errNoWatch wraps the errors that say inotify has no watch to give.
var errNoWatch = errors.New("no inotify watch available")

// armLocked watches the file if it exists, else the deepest existing
// ancestor; after watching a directory it looks again, since what it waits
// for may have appeared just before the watch began.
func (w *fileWatcher) armLocked() error {
	for {
		i := w.deepest()
		if i < 0 {
			return errors.New("no directory to watch for " + w.path)
		}
		mask := uint32(unix.IN_CREATE | unix.IN_MOVED_TO)
		if i == 0 {
			mask = unix.IN_MODIFY | unix.IN_CLOSE_WRITE
		}
		e, err := w.hub.watch(w, w.chain[i], mask)
		switch {
		case errors.Is(err, unix.ENOENT):
			continue // removed meanwhile: look again
		case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.ENOMEM):
			return errors.Join(errNoWatch, os.NewSyscallError("inotify_add_watch", err))
		case err != nil:
			return os.NewSyscallError("inotify_add_watch", err)
		}
		if w.cur != nil && w.cur != e {
			w.hub.unwatch(w, w.cur)
		}
		w.cur = e
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

// wake re-arms the watcher (its file may have appeared) and signals it.
func (w *fileWatcher) wake() {
	w.mu.Lock()
	if w.closed || w.hub == nil {
		w.mu.Unlock()
		return
	}
	if err := w.armLocked(); err != nil && w.cur == nil {
		// Lost its watch and cannot get another: poll.
		w.releaseLocked()
		w.startPollingLocked()
	}
	w.mu.Unlock()
	w.signal()
}

func (w *fileWatcher) signal() {
	select {
	case w.c <- struct{}{}:
	default: // a signal is pending already
	}
}

// releaseLocked leaves the hub.
func (w *fileWatcher) releaseLocked() {
	if w.hub == nil {
		return
	}
	if w.cur != nil {
		w.hub.unwatch(w, w.cur)
		w.cur = nil
	}
	w.hub.release()
	w.hub = nil
}

func (w *fileWatcher) startPolling() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.startPollingLocked()
}

func (w *fileWatcher) startPollingLocked() {
	if w.poll != nil {
		return
	}
	w.poll = time.NewTicker(pollInterval)
	go func(t *time.Ticker) {
		for {
			select {
			case <-t.C:
				w.signal()
			case <-w.done:
				return
			}
		}
	}(w.poll)
}

// Close stops watching.
func (w *fileWatcher) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	w.releaseLocked()
	if w.poll != nil {
		w.poll.Stop()
	}
	close(w.done)
	return nil
}
