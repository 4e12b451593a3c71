package process

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Exit notes. A task outlives a crash of the worker that started it, but
// only its parent can learn its exit status. A small process above the
// worker, its child subreaper, gets the tasks of a worker that died as its
// children: Reap writes each one's exit status to a note in a directory
// the restarted worker's executor reads (Config.ExitNotes). The note is
// written before the task is reaped, so a follower that sees the task gone
// and no note knows that none will come.

const (
	notePrefix   = "exit."   // exit.PID.STARTTICKS: one task's exit
	reaperPrefix = "reaper." // reaper.PID: a live reaper, with its start time
)

// exitNote is how an orphaned task ended, as its reaper saw it.
type exitNote struct {
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks"`
	ExitCode   int    `json:"exit_code"`
	Signal     string `json:"signal,omitempty"`
	// CPUTimeNS is user plus system time of the task and the children it
	// waited for; MaxRSS is in bytes.
	CPUTimeNS int64     `json:"cpu_time_ns"`
	MaxRSS    int64     `json:"max_rss"`
	Finished  time.Time `json:"finished"`
}

// writeAtomic writes b to path through a temporary file and a rename, so
// that a reader sees all of it or nothing. No fsync: like the journal, notes
// guard against process crashes, not an OS crash, which ends the tasks too.
func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// Reap makes the calling process the child subreaper of its descendants
// (prctl PR_SET_CHILD_SUBREAPER), starts the worker with start, and reaps
// its children until it has none. The worker, it only logs. A task a dead
// worker left, one that the journal in stateDir (the worker executor's
// Config.StateDir) names by PID and start time, it handles as the executor
// would have: it kills the rest of the task's process group, while the
// leader, a zombie still, keeps the group ID from being reused, and notes
// the exit in dir. Other orphans (what a task left behind) it only reaps,
// as init would. The caller must not wait for children itself. If it
// cannot become the subreaper or note exits, the worker still runs: its
// tasks are then lost when it dies, as without a reaper.
func Reap(stateDir, dir string, start func() (pid int, err error), log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := becomeReaper(dir); err != nil {
		log.Error("the tasks of a worker that dies will be lost", "err", err)
	} else {
		defer os.Remove(filepath.Join(dir, reaperPrefix+strconv.Itoa(os.Getpid())))
	}
	worker, err := start()
	if err != nil {
		return err
	}
	for {
		// Peek first: the status and rusage are noted before the child
		// is reaped.
		var info unix.Siginfo
		var ru unix.Rusage
		err := unix.Waitid(unix.P_ALL, 0, &info, unix.WEXITED|unix.WNOWAIT, &ru)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ECHILD) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("waiting for children: %w", err)
		}
		pid, status := childFields(&info)
		if pid == worker {
			log.Warn("the worker exited", "pid", pid, "code", info.Code, "status", status)
		} else if st, err := readProcStat(pid); err == nil && st.Pgrp == pid && journalNames(stateDir, pid, st.StartTicks) {
			if err := unix.Kill(-pid, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
				log.Warn("killing stragglers", "pgid", pid, "err", err)
			}
			x := exitOf(&info, &ru)
			n := exitNote{PID: pid, StartTicks: st.StartTicks, ExitCode: x.ExitCode, Signal: x.Signal,
				CPUTimeNS: int64(x.CPUTime), MaxRSS: x.MaxRSS, Finished: x.Finished.UTC()}
			b, _ := json.Marshal(n)
			if err := writeAtomic(filepath.Join(dir, fmt.Sprintf("%s%d.%d", notePrefix, pid, st.StartTicks)), b); err != nil {
				log.Error("noting the exit of an orphaned task", "pid", pid, "err", err)
			} else {
				log.Info("noted the exit of an orphaned task", "pid", pid, "exit_code", n.ExitCode, "signal", n.Signal)
			}
		}
		for {
			var done unix.Siginfo
			if err := unix.Waitid(unix.P_PID, pid, &done, unix.WEXITED, nil); !errors.Is(err, unix.EINTR) {
				break
			}
		}
	}
}

// childFields returns si_pid and si_status of a child's siginfo, which
// x/sys/unix leaves opaque: they open the union that follows si_signo,
// si_errno and si_code, aligned to a pointer (offset 16 on 64-bit Linux,
// 12 on 32-bit), with si_uid between them.
func childFields(info *unix.Siginfo) (pid, status int) {
	off := uintptr(12)
	if unsafe.Sizeof(uintptr(0)) == 8 {
		off = 16
	}
	base := unsafe.Pointer(info)
	pid = int(*(*int32)(unsafe.Add(base, off)))
	status = int(*(*int32)(unsafe.Add(base, off+8)))
	return pid, status
}

// becomeReaper makes this process the child subreaper of its descendants
// and notes in dir that it notes their exits, so that a restarted executor
// follows tasks whose parent it is (see isReaper).
func becomeReaper(dir string) error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("becoming the child subreaper: %w", err)
	}
	st, err := readProcStat(os.Getpid())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("exit notes: %w", err)
	}
	path := filepath.Join(dir, reaperPrefix+strconv.Itoa(os.Getpid()))
	if err := writeAtomic(path, []byte(strconv.FormatUint(st.StartTicks, 10))); err != nil {
		return fmt.Errorf("registering the reaper: %w", err)
	}
	return nil
}

// isReaper reports whether pid is a live reaper that notes exits in dir:
// registered, with the start time of the process that has the PID now.
func isReaper(dir string, pid int) bool {
	b, err := os.ReadFile(filepath.Join(dir, reaperPrefix+strconv.Itoa(pid)))
	if err != nil {
		return false
	}
	ticks, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return false
	}
	st, err := readProcStat(pid)
	return err == nil && st.StartTicks == ticks && st.State != 'Z'
}

// journalNames reports whether the task journal in stateDir names a live
// task with PID pid that started at ticks. It is read at each exit of an
// orphaned group leader: rare, and the journal is short.
func journalNames(stateDir string, pid int, ticks uint64) bool {
	hs, err := (&Executor{stateDir: stateDir}).readJournal()
	if err != nil {
		return false
	}
	for _, h := range hs {
		if h.PID == pid && startMatches(h, ticks) {
			return true
		}
	}
	return false
}
