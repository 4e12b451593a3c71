package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	"golang.org/x/sys/unix"
)

// Following a task an earlier instance started (see reaper.go): the task is
// not this process's child, so its end is seen on a pidfd, and its exit
// status read from the note its reaper writes.

const (
	// notePoll is how often a follower looks for the note of a task that
	// has exited but is not reaped yet.
	notePoll = 10 * time.Millisecond
	// noteWait bounds that wait, for a reaper that hangs.
	noteWait = 30 * time.Second
)

// startMatches reports whether ticks, a process's start time, is that of
// the task h.
func startMatches(h *procHandle, ticks uint64) bool {
	return ticks >= h.StartTicks && ticks <= h.StartTicks+h.StartSlack
}

// findNote returns the note of task h's exit and its path, or nil.
func (e *Executor) findNote(h *procHandle) (*exitNote, string) {
	paths, _ := filepath.Glob(filepath.Join(e.exitNotes, notePrefix+strconv.Itoa(h.PID)+".*"))
	for _, p := range paths {
		ticks, err := strconv.ParseUint(strings.TrimPrefix(filepath.Ext(p), "."), 10, 64)
		if err != nil || !startMatches(h, ticks) {
			continue
		}
		b, err := os.ReadFile(p)
		var n exitNote
		if err == nil && json.Unmarshal(b, &n) == nil {
			return &n, p
		}
	}
	return nil, ""
}

func (n *exitNote) exit() *executor.Exit {
	return &executor.Exit{ExitCode: n.ExitCode, Signal: n.Signal, CPUTime: time.Duration(n.CPUTimeNS),
		MaxRSS: n.MaxRSS, Finished: n.Finished}
}

// followable reports whether task h, left by an earlier instance, can be
// followed: its exit is noted, or its leader lives (or is a zombie) as the
// child of a reaper that will note it.
func (e *Executor) followable(h *procHandle) bool {
	if n, _ := e.findNote(h); n != nil {
		return true
	}
	st, err := readProcStat(h.PID)
	return err == nil && startMatches(h, st.StartTicks) && isReaper(e.exitNotes, st.PPID)
}

// Recoverable returns the tasks an earlier instance left that can be
// followed again (with Config.ExitNotes set; else none). The others are left
// to Cleanup. Notes of no task in the journal are removed, and so are the
// marks of reapers that are gone.
func (e *Executor) Recoverable(ctx context.Context) ([]*executor.Handle, error) {
	if e.exitNotes == "" || e.stateDir == "" {
		return nil, nil
	}
	hs, err := e.readJournal()
	if err != nil {
		return nil, fmt.Errorf("recoverable: %w", err)
	}
	e.pruneNotes(hs)
	var found []*executor.Handle
	for _, h := range hs {
		if err := ctx.Err(); err != nil {
			return found, err
		}
		if h.PID > 0 && !e.tasks.Has(h.ID) && e.followable(h) {
			found = append(found, h.handle)
		}
	}
	return found, nil
}

func (e *Executor) pruneNotes(hs []*procHandle) {
	ents, _ := os.ReadDir(e.exitNotes)
	for _, ent := range ents {
		name := ent.Name()
		var pid int
		var ticks uint64
		switch {
		case strings.HasPrefix(name, reaperPrefix):
			if pid, err := strconv.Atoi(strings.TrimPrefix(name, reaperPrefix)); err == nil && !isReaper(e.exitNotes, pid) {
				os.Remove(filepath.Join(e.exitNotes, name))
			}
		case strings.HasPrefix(name, notePrefix):
			if _, err := fmt.Sscanf(name, notePrefix+"%d.%d", &pid, &ticks); err != nil {
				continue // a temporary file
			}
			known := false
			for _, h := range hs {
				known = known || (h.PID == pid && startMatches(h, ticks))
			}
			if !known {
				os.Remove(filepath.Join(e.exitNotes, name))
			}
		}
	}
}

// follow returns a task that follows h, a task an earlier instance started,
// until its end, or an error when its end cannot be known.
func (e *Executor) follow(h *procHandle) (*task, error) {
	t := newTask(h.ID, h.PID, e.log)
	t.followed = true
	fd, err := unix.PidfdOpen(h.PID, 0)
	if err != nil && !errors.Is(err, unix.ESRCH) {
		return nil, fmt.Errorf("pidfd_open %d: %w", h.PID, err)
	}
	if err == nil {
		// Opened before the check, the pidfd is of the process checked, or
		// the check fails.
		st, err := readProcStat(h.PID)
		switch {
		case err != nil || !startMatches(h, st.StartTicks):
			unix.Close(fd)
			fd = -1 // gone, its PID maybe reused
		case !isReaper(e.exitNotes, st.PPID):
			unix.Close(fd)
			return nil, fmt.Errorf("process %d is not the child of a reaper that notes its exit", h.PID)
		case st.State == 'T':
			t.state = job.Suspended
		}
	}
	if fd < 0 {
		n, path := e.findNote(h)
		if n == nil {
			return nil, fmt.Errorf("process %d is gone and its exit was not noted", h.PID)
		}
		t.mu.Lock()
		t.note = path
		t.endLocked(n.exit())
		t.mu.Unlock()
		return t, nil
	}
	go e.awaitNote(t, h, fd)
	return t, nil
}

// awaitNote waits for the end of the process on pidfd fd, then for its
// reaper's note, which comes before the zombie is reaped: once the zombie
// is gone without a note, none will come.
func (e *Executor) awaitNote(t *task, h *procHandle, fd int) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for {
		if _, err := unix.Poll(fds, -1); !errors.Is(err, unix.EINTR) {
			break
		}
	}
	unix.Close(fd)
	deadline := time.Now().Add(noteWait)
	for {
		n, path := e.findNote(h)
		if n == nil {
			st, err := readProcStat(h.PID)
			if err == nil && startMatches(h, st.StartTicks) && time.Now().Before(deadline) {
				time.Sleep(notePoll) // not reaped yet
				continue
			}
			n, path = e.findNote(h)
		}
		if n == nil {
			t.lost(errors.New("the worker restarted while the task ran, and its exit status was not noted (its reaper is gone)"))
			return
		}
		t.mu.Lock()
		t.note = path
		t.endLocked(n.exit())
		t.mu.Unlock()
		return
	}
}

// pollFollowed updates the state of a followed task, which raises no stop
// or continue events, from /proc.
func (t *task) pollFollowed() {
	st, err := readProcStat(t.pid)
	if err != nil {
		return
	}
	s := job.Running
	if st.State == 'T' {
		s = job.Suspended
	}
	t.setState(s)
}
