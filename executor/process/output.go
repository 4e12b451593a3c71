package process

import (
	"errors"
	"io"
	"os"
	"sync"
	"time"
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

// drain copies a pipe into a file created at its first byte.
type drain struct {
	r    *os.File
	path string
}

// childFiles returns the child's stdin, stdout and stderr, and the drains
// to start once the child holds its ends. The same path for stdout and
// stderr shares one file (or pipe), so the two do not overwrite each other.
func childFiles(stdout, stderr string) (files []*os.File, drains []drain, err error) {
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		return nil, nil, err
	}
	files = []*os.File{stdin}
	open := func(path string) error {
		if path == "" {
			f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err == nil {
				files = append(files, f)
			}
			return err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if err == nil {
			files = append(files, f)
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		r, w, err := os.Pipe()
		if err != nil {
			return err
		}
		files = append(files, w)
		drains = append(drains, drain{r: r, path: path})
		return nil
	}
	err = open(stdout)
	if err == nil && stderr != "" && stderr == stdout {
		files = append(files, files[1])
	} else if err == nil {
		err = open(stderr)
	}
	if err != nil {
		closeFiles(files)
		for _, d := range drains {
			d.r.Close()
		}
		return nil, nil, err
	}
	return files, drains, nil
}

// closeFiles closes files, once each.
func closeFiles(files []*os.File) {
	for i, f := range files {
		if i == 0 || f != files[i-1] {
			f.Close()
		}
	}
}

// startDrains copies each pipe to its file in a goroutine of its own and
// returns a channel closed once all pipes are drained and closed.
func startDrains(drains []drain, onErr func(path string, err error)) <-chan struct{} {
	done := make(chan struct{})
	if len(drains) == 0 {
		close(done)
		return done
	}
	var wg sync.WaitGroup
	for _, d := range drains {
		wg.Go(func() {
			if err := d.run(); err != nil {
				onErr(d.path, err)
			}
		})
	}
	go func() {
		wg.Wait()
		close(done)
	}()
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
	var f *os.File
	var werr error
	for {
		n, err := d.r.Read(buf)
		if n > 0 && werr == nil {
			if f == nil {
				f, werr = os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			}
			if werr == nil {
				_, werr = f.Write(buf[:n])
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
