package process

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-run/berth/internal/timeline"
)

// Output files are created lazily. A task's stdout and stderr go to a pipe
// the worker drains into the file, which is created at the first byte: a
// task that writes nothing costs no file. Creating a file means allocating an
// inode, which on a busy ext4 costs up to a millisecond of CPU, as much as
// running a short task; a pipe costs microseconds. A file that exists already
// (an earlier attempt's) is truncated and handed to the child directly.

// outputGrace is how long the exit waits for the output pipes to close once
// the task's process group is gone. Only a process that left the group
// (setsid) can hold them open longer; its output is still copied, after the
// exit is reported.
const outputGrace = time.Second

// drain copies a pipe into a file created at its first byte (or opened
// already, f), noting each chunk in the task's timeline as file.
type drain struct {
	r    *os.File
	path string
	f    *os.File
	tl   *timeline.Writer
	file int
}

// childEnds are the child's stdin, stdout and stderr.
type childEnds struct {
	fds []uintptr
	// owned are those of fds this start opened, to close once the child
	// holds them; the others are the executor's /dev/null.
	owned []int
}

func (c *childEnds) close() {
	for _, fd := range c.owned {
		unix.Close(fd)
	}
	c.owned = nil
}

// childFiles returns the child's stdin, stdout and stderr, and the drains
// to start once the child holds its ends. The same path for stdout and
// stderr shares one file (or pipe), so the two do not overwrite each other.
// The ends are raw descriptors: the child's need no poller, and only the
// read ends of the pipes become *os.File. With a timeline (tl not nil) all
// output goes through drains, which note when it arrived.
func (e *Executor) childFiles(stdout, stderr string, tl *timeline.Writer) (ends childEnds, drains []drain, err error) {
	null, err := e.devNull()
	if err != nil {
		return childEnds{}, nil, err
	}
	ends.fds = []uintptr{null[0]}
	open := func(path string, file int) error {
		if path == "" {
			ends.fds = append(ends.fds, null[1])
			return nil
		}
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
		var f *os.File
		if err == nil && tl == nil {
			ends.fds = append(ends.fds, uintptr(fd))
			ends.owned = append(ends.owned, fd)
			return nil
		}
		if err == nil {
			f = os.NewFile(uintptr(fd), path)
		} else if err != unix.ENOENT {
			return &os.PathError{Op: "open", Path: path, Err: err}
		}
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			if f != nil {
				f.Close()
			}
			return os.NewSyscallError("pipe2", err)
		}
		// Non-blocking, the read end goes to the poller; the child's end
		// stays blocking, as programs expect.
		if err := unix.SetNonblock(p[0], true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			if f != nil {
				f.Close()
			}
			return os.NewSyscallError("fcntl", err)
		}
		ends.fds = append(ends.fds, uintptr(p[1]))
		ends.owned = append(ends.owned, p[1])
		drains = append(drains, drain{r: os.NewFile(uintptr(p[0]), "|0"), path: path, f: f, tl: tl, file: file})
		return nil
	}
	err = open(stdout, timeline.Stdout)
	if err == nil && stderr != "" && stderr == stdout {
		ends.fds = append(ends.fds, ends.fds[1])
	} else if err == nil {
		err = open(stderr, timeline.Stderr)
	}
	if err != nil {
		ends.close()
		for _, d := range drains {
			d.r.Close()
			if d.f != nil {
				d.f.Close()
			}
		}
		return childEnds{}, nil, err
	}
	return ends, drains, nil
}

// devNull returns the executor's /dev/null, open for reading and for
// writing, for every child's stdin and unset outputs.
func (e *Executor) devNull() ([2]uintptr, error) {
	e.nullOnce.Do(func() {
		for i, mode := range []int{unix.O_RDONLY, unix.O_WRONLY} {
			fd, err := unix.Open(os.DevNull, mode|unix.O_CLOEXEC, 0)
			if err != nil {
				e.nullErr = &os.PathError{Op: "open", Path: os.DevNull, Err: err}
				return
			}
			e.null[i] = uintptr(fd)
		}
	})
	return e.null, e.nullErr
}

// startDrains copies each pipe to its file in a goroutine of its own and
// returns a channel closed once all pipes are drained and closed, and the
// timeline with them. The last drain to finish closes it.
func startDrains(drains []drain, tl *timeline.Writer, onErr func(path string, err error)) <-chan struct{} {
	done := make(chan struct{})
	closeTimeline := func() {
		if err := tl.Close(); err != nil {
			onErr("", fmt.Errorf("recording the output's arrival times: %w", err))
		}
	}
	if len(drains) == 0 {
		closeTimeline()
		close(done)
		return done
	}
	left := new(atomic.Int32)
	left.Store(int32(len(drains)))
	for _, d := range drains {
		go func() {
			if err := d.run(); err != nil {
				onErr(d.path, err)
			}
			if left.Add(-1) == 0 {
				closeTimeline()
				close(done)
			}
		}()
	}
	return done
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// run copies until the write ends are all closed. If the file cannot be
// written, the rest is read and dropped, so that the task never blocks on a
// full pipe.
func (d drain) run() error {
	defer d.r.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	f := d.f
	var werr error
	for {
		n, err := d.r.Read(buf)
		if n > 0 && werr == nil {
			if f == nil {
				// The timeline first: no output file without it. Its
				// errors cost only the times (the task's end logs them).
				_ = d.tl.Open()
				f, werr = os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			}
			if werr == nil {
				_, werr = f.Write(buf[:n])
			}
			if werr == nil {
				_ = d.tl.Record(d.file, n)
			}
		}
		if err != nil {
			if f != nil {
				if cerr := f.Close(); werr == nil {
					werr = cerr
				}
			}
			if errors.Is(err, io.EOF) {
				return werr
			}
			return errors.Join(werr, err)
		}
	}
}

// outputErrs gathers the errors of a task's drains.
type outputErrs struct {
	mu   sync.Mutex
	errs []error
}

func (o *outputErrs) add(err error) {
	o.mu.Lock()
	o.errs = append(o.errs, err)
	o.mu.Unlock()
}

// get returns the errors so far, nil if none (or o is nil).
func (o *outputErrs) get() error {
	if o == nil {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return errors.Join(o.errs...)
}

// directOutputs returns the output paths the child writes itself (an
// earlier attempt's file, handed over open), not through a drain.
func directOutputs(drains []drain, paths ...string) []string {
	var out []string
	for _, p := range paths {
		if p == "" || slices.Contains(out, p) || slices.ContainsFunc(drains, func(d drain) bool { return d.path == p }) {
			continue
		}
		out = append(out, p)
	}
	return out
}

// fullDisk tells, for output files the child wrote itself, whether their
// file system is full now: the child's writes may then have failed, which
// only it saw.
func fullDisk(paths []string) error {
	for _, p := range paths {
		var fs unix.Statfs_t
		if unix.Statfs(p, &fs) == nil && fs.Bavail == 0 {
			return fmt.Errorf("%s: the disk is full; the task's writes to it may have failed", p)
		}
	}
	return nil
}
