package server

import (
	"bytes"
	"errors"
	"io"
	"os"
	"time"

	"github.com/berth-run/berth/internal/timeline"
)

// How logs serves both streams, times and since
//
// The worker records in a timeline (internal/timeline) when each chunk of
// stdout and stderr arrived. A merger replays it: it cuts each stream into
// lines and writes a line once its newline has arrived, so lines of the
// two streams never mix, in the order their newlines arrived, with that
// time as the line's time (what --timestamps prints and --since compares).
// A line longer than maxLine is written in pieces of maxLine. Until the
// task has ended, a chunk the timeline names but the file does not hold yet
// (a remote worker ships the timeline first) and the last, unfinished line
// of each stream wait; at the end they are written, unfinished lines last.
// So what a follower was sent is always the start of what a later request
// sends, and the offset of a request counts the bytes of this very answer.

// maxLine bounds the unfinished line a merger holds per stream.
const maxLine = 64 << 10

// stampLayout is the time prefixed to lines, as docker logs -t writes it.
const stampLayout = "2006-01-02T15:04:05.000000000Z07:00"

// logSource writes a task's output, as far as it is there; final says the
// task has ended and its output is complete.
type logSource interface {
	copyTo(w io.Writer, final bool) error
	close()
}

// rawSource is one file as it is.
type rawSource struct{ logFile }

func (r *rawSource) copyTo(w io.Writer, _ bool) error { return r.logFile.copyTo(w) }

// concatSource is output without a timeline (written before berth
// recorded times, or by an OpenJD session): stdout as it grows, then, once
// the task has ended, stderr.
type concatSource struct {
	out, err *logFile
	skip     int64
}

func (c *concatSource) copyTo(w io.Writer, final bool) error {
	sw := &skipWriter{w: w, skip: &c.skip}
	if err := c.out.copyTo(sw); err != nil || !final {
		return err
	}
	return c.err.copyTo(sw)
}

func (c *concatSource) close() { c.out.close(); c.err.close() }

// merger writes the chosen streams of a task from its timeline.
type merger struct {
	tl    *timeline.Reader
	paths [2]string
	files [2]*os.File
	want  [2]bool
	since time.Time
	stamp bool
	// held are the chunks read from the timeline and not yet written.
	held []timeline.Chunk
	// line is each stream's unfinished line, at the time of its last chunk.
	line   [2][]byte
	lineAt [2]time.Time
	// done is how far each file has been consumed; last the latest time seen.
	done [2]int64
	last time.Time
	skip int64
	buf  []byte
	out  *skipWriter
}

func newMerger(tl *timeline.Reader, stdout, stderr string, want [2]bool, since time.Time, stamp bool, offset int64) *merger {
	return &merger{tl: tl, paths: [2]string{stdout, stderr}, want: want, since: since, stamp: stamp, skip: offset, buf: make([]byte, copyBufSize)}
}

func (m *merger) close() {
	m.tl.Close()
	for _, f := range m.files {
		if f != nil {
			f.Close()
		}
	}
}

// size returns the size of output file i now (0: none yet).
func (m *merger) size(i int) (int64, error) {
	if m.files[i] == nil {
		f, err := os.Open(m.paths[i])
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		m.files[i] = f
	}
	fi, err := m.files[i].Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (m *merger) copyTo(w io.Writer, final bool) error {
	m.out = &skipWriter{w: w, skip: &m.skip}
	more, err := m.tl.Next()
	if err != nil {
		return err
	}
	m.held = append(m.held, more...)
	var sizes [2]int64
	for i := range sizes {
		if sizes[i], err = m.size(i); err != nil {
			return err
		}
	}
	n := 0
	for _, c := range m.held {
		if c.End > sizes[c.File] && !final {
			break // on its way: wait, keeping the order
		}
		c.End = min(c.End, sizes[c.File])
		if err := m.chunk(c); err != nil {
			return err
		}
		n++
	}
	m.held = m.held[n:]
	if !final {
		return nil
	}
	// What no record names (a timeline cut short), at the last known time;
	// then the unfinished lines.
	for i := range sizes {
		if m.done[i] < sizes[i] {
			at := m.last
			if at.IsZero() {
				at = time.Now().UTC()
			}
			if err := m.chunk(timeline.Chunk{File: i, Start: m.done[i], End: sizes[i], Time: at}); err != nil {
				return err
			}
		}
	}
	for i := range m.line {
		if err := m.emit(m.line[i], m.lineAt[i]); err != nil {
			return err
		}
		m.line[i] = m.line[i][:0]
	}
	return nil
}

// chunk takes the bytes of c: the lines it finishes are written.
func (m *merger) chunk(c timeline.Chunk) error {
	if c.Time.After(m.last) {
		m.last = c.Time
	}
	start := max(c.Start, m.done[c.File])
	if !m.want[c.File] || c.End <= start {
		m.done[c.File] = max(m.done[c.File], c.End)
		return nil
	}
	for off := start; off < c.End; {
		n, err := m.files[c.File].ReadAt(m.buf[:min(int64(len(m.buf)), c.End-off)], off)
		if n == 0 && err != nil {
			return err
		}
		off += int64(n)
		m.done[c.File] = off
		p := m.buf[:n]
		for len(p) > 0 {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				m.line[c.File] = append(m.line[c.File], p...)
				m.lineAt[c.File] = c.Time
				break
			}
			var line []byte
			if len(m.line[c.File]) > 0 {
				line = append(m.line[c.File], p[:i+1]...)
			} else {
				line = p[:i+1]
			}
			if err := m.emit(line, c.Time); err != nil {
				return err
			}
			m.line[c.File] = m.line[c.File][:0]
			p = p[i+1:]
		}
		for len(m.line[c.File]) >= maxLine {
			if err := m.emit(m.line[c.File][:maxLine], c.Time); err != nil {
				return err
			}
			m.line[c.File] = append(m.line[c.File][:0], m.line[c.File][maxLine:]...)
		}
	}
	return nil
}

// emit writes one line (or piece of one) that arrived at at.
func (m *merger) emit(line []byte, at time.Time) error {
	if len(line) == 0 || at.Before(m.since) {
		return nil
	}
	if m.stamp {
		var b [len(stampLayout) + 1]byte
		p := at.UTC().AppendFormat(b[:0], stampLayout)
		if _, err := m.out.Write(append(p, ' ')); err != nil {
			return err
		}
	}
	_, err := m.out.Write(line)
	return err
}

// skipWriter drops the first *skip bytes written through it: those the
// client already has.
type skipWriter struct {
	w    io.Writer
	skip *int64
}

func (s *skipWriter) Write(p []byte) (int, error) {
	n := len(p)
	if *s.skip > 0 {
		k := min(int64(len(p)), *s.skip)
		*s.skip -= k
		p = p[k:]
	}
	if len(p) == 0 {
		return n, nil
	}
	_, err := s.w.Write(p)
	return n, err
}
