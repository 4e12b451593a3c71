package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// procStat is what berth needs from /proc/PID/stat.
type procStat struct {
	State      byte   // field 3: R, S, D, T, Z, ...
	PPID       int    // field 4: the parent
	Pgrp       int    // field 5: the process group
	StartTicks uint64 // field 22: start time in clock ticks after boot
}

func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	st, err := parseProcStat(b)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return st, nil
}

// userHZ is the unit of /proc's clock ticks (USER_HZ), 100 on Linux.
const userHZ = 100

// bootSpan brackets a fork with readings of CLOCK_BOOTTIME, the clock of
// a process's start time in /proc/PID/stat: the child's start time lies
// between them. Reading the clock twice costs nanoseconds; reading /proc
// costs an open, a read and a close, tens of microseconds.
type bootSpan struct{ lo, hi int64 }

func bootNanos() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return ts.Nano()
}

func (b *bootSpan) begin() { b.lo = bootNanos() }
func (b *bootSpan) end()   { b.hi = bootNanos() }

// ticks returns the start time's lowest possible value in clock ticks and
// how many ticks later it may be.
func (b *bootSpan) ticks() (lo, slack uint64) {
	const nsPerTick = int64(1e9 / userHZ)
	lo, hi := uint64(b.lo/nsPerTick), uint64(b.hi/nsPerTick)
	return lo, hi - lo
}

// parseProcStat parses the fields after comm. comm (field 2) is in
// parentheses and may itself hold spaces and parentheses, but it is the only
// field that can, so the fields start after the last ')'.
func parseProcStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("no command field")
	}
	f := bytes.Fields(b[i+1:]) // f[0] is field 3
	const ticks = 22 - 3
	if len(f) <= ticks {
		return procStat{}, errors.New("too few fields")
	}
	if len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("bad state %q", f[0])
	}
	n, err := strconv.ParseUint(string(f[ticks]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("start time: %w", err)
	}
	ppid, err := strconv.Atoi(string(f[1]))
	if err != nil {
		return procStat{}, fmt.Errorf("parent: %w", err)
	}
	pgrp, err := strconv.Atoi(string(f[2]))
	if err != nil {
		return procStat{}, fmt.Errorf("process group: %w", err)
	}
	return procStat{State: f[0][0], PPID: ppid, Pgrp: pgrp, StartTicks: n}, nil
}

// heldByStoppedChild reports whether pid is in an uninterruptible wait (D)
// while a child of it is stopped. That is how a process looks that called
// vfork, as dash does for every command, when the group stop caught the
// child before exec: the vfork wait cannot be stopped, so the parent never
// reports a stop, yet it cannot run before the child does.
func heldByStoppedChild(pid int) bool {
	if st, err := readProcStat(pid); err != nil || st.State != 'D' {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return false
	}
	for f := range bytes.FieldsSeq(b) {
		child, err := strconv.Atoi(string(f))
		if err != nil {
			continue
		}
		if st, err := readProcStat(child); err == nil && st.State == 'T' {
			return true
		}
	}
	return false
}
