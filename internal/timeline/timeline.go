// Package timeline records when a task's output arrived, in a small index
// file beside its stdout and stderr files, and reads it back: the server
// merges the two streams in arrival order, prefixes lines with their time
// and filters them by it (berth logs --timestamps, --since).
//
// The output files stay the exact bytes the task wrote; the index only
// points into them. It is a 16-byte header, then one 16-byte record per
// chunk of output as the worker read it (one read of a pipe, one frame of
// the engine's stream): the time the chunk arrived, in Unix nanoseconds,
// and the size of its file once the chunk was written, shifted left by one,
// with the file (0 stdout, 1 stderr) in the lowest bit. Records are in the
// order the chunks were written, so the index orders the two streams;
// sizes, not lengths, make a record self-contained, so that a writer that
// resumes after a crash, or a lost record, misplaces nothing. A trailing
// partial record (a crash mid-write) is ignored.
//
// Cost: one 16-byte write per chunk beside the chunk's own write, and the
// index file, created with the first output (a task that writes nothing
// costs nothing).
package timeline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The files a record names.
const (
	Stdout = 0
	Stderr = 1
)

// RecordSize is the size of the header and of each record.
const RecordSize = 16

// magic is the header: the format's name and version.
var magic = [RecordSize]byte{'b', 'e', 'r', 't', 'h', ' ', 't', 'i', 'm', 'e', 'l', 'i', 'n', 'e', 0, 1}

// ErrFormat is returned for a file that is not an index of this version.
var ErrFormat = errors.New("not a berth output timeline")

// Writer appends records to an index file. It is safe for concurrent use:
// the drains of stdout and stderr share one.
type Writer struct {
	mu   sync.Mutex
	path string
	f    *os.File
	// sizes are the sizes of the output files so far.
	sizes [2]int64
	// buf holds what is not yet written: the header of a file just
	// created, and the records, when buffered.
	buf      []byte
	buffered bool
	err      error
}

// New returns a writer of a new index at path: if a file is there (an
// earlier attempt's) it is truncated now, else it is created at the first
// record. Buffered, records wait in memory for Flush.
func New(path string, buffered bool) (*Writer, error) {
	w := &Writer{path: path, buffered: buffered}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return w, nil
	}
	if err != nil {
		return nil, err
	}
	w.f = f
	if _, err := f.Write(magic[:]); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// Resume returns a writer that goes on with the index at path (created if
// missing) after a restart; sizes are the output files' sizes now, which
// the next records continue from.
func Resume(path string, sizes [2]int64, buffered bool) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		// Drop a partial record; write the header into an empty file.
		n := fi.Size() - fi.Size()%RecordSize
		if n == 0 {
			_, err = f.WriteAt(magic[:], 0)
			n = RecordSize
		}
		if err == nil {
			err = f.Truncate(n)
		}
		if err == nil {
			_, err = f.Seek(n, io.SeekStart)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &Writer{path: path, f: f, sizes: sizes, buffered: buffered}, nil
}

// Open creates the file if it does not exist yet. Callers that create an
// output file lazily call it first, so that an output file never exists
// without its index (a reader would take it for one written before berth
// recorded times).
func (w *Writer) Open() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.openLocked()
}

func (w *Writer) openLocked() error {
	if w.f != nil || w.err != nil {
		return w.err
	}
	// Not os.OpenFile: a regular file needs no poller, and this is on the
	// path of every task that writes.
	fd, err := unix.Open(w.path, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0o600)
	if err != nil {
		w.err = &os.PathError{Op: "open", Path: w.path, Err: err}
		return w.err
	}
	w.f = os.NewFile(uintptr(fd), w.path)
	// The header goes with the first record: one write fewer.
	w.buf = append(w.buf, magic[:]...)
	return nil
}

// Record notes that n bytes were just appended to file (Stdout or Stderr).
func (w *Writer) Record(file, n int) error {
	return w.RecordAt(file, n, time.Time{})
}

// RecordAt is Record with the time the bytes arrived, when known better
// than now (zero: now).
func (w *Writer) RecordAt(file, n int, at time.Time) error {
	if w == nil || n <= 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.openLocked(); err != nil {
		return err
	}
	if at.IsZero() {
		// Taken under the lock: times follow the records' order.
		at = time.Now()
	}
	w.sizes[file&1] += int64(n)
	var rec [RecordSize]byte
	binary.LittleEndian.PutUint64(rec[:8], uint64(at.UnixNano()))
	binary.LittleEndian.PutUint64(rec[8:], uint64(w.sizes[file&1])<<1|uint64(file&1))
	w.buf = append(w.buf, rec[:]...)
	if w.buffered {
		return nil
	}
	return w.flushLocked()
}

func (w *Writer) flushLocked() error {
	if len(w.buf) == 0 || w.err != nil {
		return w.err
	}
	if _, err := w.f.Write(w.buf); err != nil {
		w.err = err
	}
	w.buf = w.buf[:0]
	return w.err
}

// Flush writes the buffered records.
func (w *Writer) Flush() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

// Close flushes and closes the file.
func (w *Writer) Close() error {
	if w == nil {
		return nil
	}
	err := w.Flush()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		err = errors.Join(err, w.f.Close())
		w.f = nil
	}
	return err
}

// Chunk is one record read back: bytes [Start, End) of File arrived at Time.
type Chunk struct {
	File       int
	Start, End int64
	Time       time.Time
}

// Reader reads an index as it grows.
type Reader struct {
	f   *os.File
	off int64 // of the next record
	// ends are where each file's last chunk ended.
	ends [2]int64
	buf  []byte
}

// OpenReader opens the index at path; os.ErrNotExist if there is none.
func OpenReader(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &Reader{f: f, buf: make([]byte, 256*RecordSize)}, nil
}

// Next returns the chunks recorded since the last call (none: nil).
func (r *Reader) Next() ([]Chunk, error) {
	var out []Chunk
	for {
		n, err := r.f.ReadAt(r.buf, r.off)
		n -= n % RecordSize
		p := r.buf[:n]
		if r.off == 0 && n > 0 {
			if !bytes.Equal(p[:RecordSize], magic[:]) {
				return nil, fmt.Errorf("%s: %w", r.f.Name(), ErrFormat)
			}
			p = p[RecordSize:]
		}
		r.off += int64(n)
		for ; len(p) >= RecordSize; p = p[RecordSize:] {
			at := int64(binary.LittleEndian.Uint64(p[:8]))
			v := binary.LittleEndian.Uint64(p[8:])
			file, end := int(v&1), int64(v>>1)
			if end <= r.ends[file] {
				continue // nothing new (a record repeated after a restart)
			}
			out = append(out, Chunk{File: file, Start: r.ends[file], End: end, Time: time.Unix(0, at).UTC()})
			r.ends[file] = end
		}
		if n < len(r.buf) || err != nil {
			if err != nil && !errors.Is(err, io.EOF) {
				return out, err
			}
			return out, nil
		}
	}
}

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }
