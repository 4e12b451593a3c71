package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-run/berth/internal/timeline"
)

// How output reaches the files
//
// A task started by this executor is attached to before it starts: the
// engine's attach stream carries stdout and stderr as the container writes
// them, in chunks of up to 32 KiB, and is demultiplexed into the files. Any
// later stream (after a restart of the container, or of the executor) is a
// following ContainerLogs stream read back from the engine's log driver, one
// frame per line, which costs the engine several times more. Both are
// written through a 64 KiB buffer per file, flushed whenever the stream has
// nothing more at hand, so the files are at most a moment behind. Each file
// is capped at Config.OutputLimit bytes, after which the marker line ends it
// and the rest of the stream is only counted.
//
// Resuming: every log stream starts from the container's first byte, and an
// outFile counts (in pos) the bytes of its stream(s) it has consumed, kept
// or dropped. A new stream, after a restart of the container or of the
// executor, skips that many bytes of the streams that go to the file and
// appends the rest. After a restart of the executor, pos is the file's size
// (Recover): the file was written in stream order, without gaps, so its
// size is exactly how far the earlier executor got, even if it died mid-frame
// or with bytes still in its buffer (the new stream delivers them again).
// This needs no timestamps (several frames can share one) and no state
// outside the file. A file that ends with the marker is complete.

// truncatedMarker returns the line that ends a capped file.
func truncatedMarker(limit int64) string {
	return "[berth: output truncated at " + strconv.FormatInt(limit, 10) + " bytes]\n"
}

// outBufSize is the write buffer of each output file.
const outBufSize = 64 << 10

// outFile is one output file. Not safe for concurrent use: one log stream
// at a time writes.
type outFile struct {
	f     *os.File // nil: output discarded (counted only)
	w     *bufio.Writer
	limit int64
	// size is the bytes of output in the file (without the marker).
	size int64
	// pos is the bytes of the stream consumed, kept or not.
	pos       int64
	truncated bool
	lastByte  byte
	// skip is what the current stream still has to skip.
	skip int64
	// failed is the first error writing the file: what follows it is lost
	// (bufio.Writer keeps failing once it failed).
	failed error
	// tl, if not nil, notes when each piece arrived, as file; at is the
	// arrival time of what is being written (zero: now).
	tl   *timeline.Writer
	file int
	at   time.Time
}

// fail records the first write error of the file and returns err.
func (o *outFile) fail(err error) error {
	if err != nil && o.failed == nil {
		o.failed = err
	}
	return err
}

// openOutput opens path for a new task: created if missing, truncated if
// present. An empty path discards the output.
func openOutput(path string, limit int64) (*outFile, error) {
	o := &outFile{limit: limit, lastByte: '\n'}
	if path == "" {
		return o, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	o.f, o.w = f, bufio.NewWriterSize(f, outBufSize)
	return o, nil
}

// resumeOutput opens path to continue a task's output after a restart of the
// executor; see "Resuming" above.
func resumeOutput(path string, limit int64) (*outFile, error) {
	o := &outFile{limit: limit, lastByte: '\n'}
	if path == "" {
		return o, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	o.f, o.w = f, bufio.NewWriterSize(f, outBufSize)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	o.size, o.pos = fi.Size(), fi.Size()
	if o.size > 0 {
		tail, err := readTail(path, int64(len(truncatedMarker(limit)))+1)
		if err != nil {
			f.Close()
			return nil, err
		}
		o.lastByte = tail[len(tail)-1]
		if bytes.HasSuffix(tail, []byte(truncatedMarker(limit))) {
			o.truncated = true
		}
	}
	return o, nil
}

func readTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := max(fi.Size()-n, 0)
	buf := make([]byte, fi.Size()-off)
	_, err = f.ReadAt(buf, off)
	return buf, err
}

// rewind makes the next stream skip what this file has consumed.
func (o *outFile) rewind() { o.skip = o.pos }

// write appends p, the next bytes of the file's stream(s).
func (o *outFile) write(p []byte) error {
	if o.skip > 0 {
		n := min(int64(len(p)), o.skip)
		o.skip -= n
		p = p[n:]
	}
	if len(p) == 0 {
		return nil
	}
	o.pos += int64(len(p))
	if o.truncated {
		return nil
	}
	if room := max(o.limit-o.size, 0); int64(len(p)) > room {
		if err := o.put(p[:room]); err != nil {
			return err
		}
		o.truncated = true
		marker := truncatedMarker(o.limit)
		if o.lastByte != '\n' {
			marker = "\n" + marker
		}
		if o.w != nil {
			if _, err := o.w.WriteString(marker); err != nil {
				return o.fail(err)
			}
			_ = o.tl.RecordAt(o.file, len(marker), o.at)
		}
		return nil
	}
	return o.put(p)
}

func (o *outFile) put(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if o.w != nil {
		if _, err := o.w.Write(p); err != nil {
			return o.fail(err)
		}
		// Timeline errors cost only the times, not output.
		_ = o.tl.RecordAt(o.file, len(p), o.at)
	}
	o.size += int64(len(p))
	o.lastByte = p[len(p)-1]
	return nil
}

// flush writes out what the buffer holds.
func (o *outFile) flush() error {
	if o.w == nil || o.w.Buffered() == 0 {
		return nil
	}
	return o.fail(o.w.Flush())
}

func (o *outFile) close() error {
	if o.f == nil {
		return nil
	}
	err := o.flush()
	o.w = nil
	return errors.Join(err, o.f.Close())
}

// outputs are a task's two files; they are one outFile when the paths are
// the same, so that the streams do not overwrite each other.
type outputs struct {
	stdout, stderr *outFile
	// tl records when the output arrived; nil: not recorded.
	tl *timeline.Writer
	// tails hold the last bytes each stream delivered (stdout, stderr),
	// which tell whether an attach stream delivered the end of the log.
	tails [2]tail
	// read counts the bytes of output the streams delivered.
	read atomic.Int64

	// The end of the output, once the container has stopped: see
	// task.finishLogs.
	mu sync.Mutex
	// last is the last frame a log stream delivered.
	last frameID
	// end is the last message of the engine's log, if known, once endKnown
	// is closed. reached is set once a stream delivered it; stop then ends
	// the follow stream.
	end      *frameID
	endKnown chan struct{}
	reached  bool
	stop     context.CancelFunc
	// lastOf is the last message of each stream in the engine's log (see
	// setEnd), compared with tails.
	lastOf [2]frameID
}

// delivered records f as the last frame delivered and reports whether it is
// the end of the output.
func (o *outputs) delivered(f frameID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last = f
	if o.end != nil && *o.end == f {
		o.reached = true
	}
	return o.reached
}

// setEnd records the last message of the log (nil: unknown) and the last
// message of each stream (zero if unknown), once; if a stream already
// delivered them, the follow stream is stopped.
func (o *outputs) setEnd(f *frameID, lastOf [2]frameID) {
	o.mu.Lock()
	o.end, o.lastOf = f, lastOf
	if f != nil && (*f == o.last || o.tailsMatchLocked()) {
		o.reached = true
	}
	stop := o.stop
	if !o.reached {
		stop = nil
	}
	o.mu.Unlock()
	close(o.endKnown)
	if stop != nil {
		stop()
	}
}

// setComplete records that a stream delivered the whole output (an attach
// stream that ended cleanly), in place of setEnd.
func (o *outputs) setComplete() {
	o.mu.Lock()
	o.reached = true
	o.mu.Unlock()
	close(o.endKnown)
}

// setStop sets what stops the follow stream once the end is reached.
func (o *outputs) setStop(stop context.CancelFunc) {
	o.mu.Lock()
	o.stop = stop
	o.mu.Unlock()
}

// complete reports whether a stream delivered the end of the output (known
// once endKnown is closed): the last frame a log stream delivered is the
// log's last message, or the bytes each stream delivered last are its last
// message in the log (after an attach stream, whose frames are not the
// log's messages).
func (o *outputs) complete() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reached || (o.end != nil && (*o.end == o.last || o.tailsMatchLocked()))
}

// tailsMatchLocked reports whether every stream's last message in the log
// ends what the stream delivered.
func (o *outputs) tailsMatchLocked() bool {
	for i, f := range o.lastOf {
		if f.ok && !o.tails[i].endsWith(f.n, f.crc) {
			return false
		}
	}
	return true
}

// tailSize bounds what a tail keeps: more than a log message holds (the
// engine splits lines at 16 KiB).
const tailSize = 64 << 10

// tail keeps the last tailSize bytes of a stream.
type tail struct {
	buf  []byte // allocated on first use
	next int    // where the next byte goes
	full bool
}

func (t *tail) write(p []byte) {
	if t.buf == nil {
		t.buf = make([]byte, tailSize)
	}
	if len(p) >= tailSize {
		copy(t.buf, p[len(p)-tailSize:])
		t.next, t.full = 0, true
		return
	}
	n := copy(t.buf[t.next:], p)
	if n < len(p) {
		copy(t.buf, p[n:])
		t.full = true
	}
	t.next = (t.next + len(p)) % tailSize
	if t.next == 0 && len(p) > 0 {
		t.full = true
	}
}

// endsWith reports whether the last n bytes kept have the checksum crc.
func (t *tail) endsWith(n int64, crc uint32) bool {
	have := int64(t.next)
	if t.full {
		have = tailSize
	}
	if n > have {
		return false
	}
	if n == 0 {
		return true
	}
	start := (int64(t.next) - n + tailSize) % tailSize
	var c uint32
	if start+n <= tailSize {
		c = crc32.ChecksumIEEE(t.buf[start : start+n])
	} else {
		c = crc32.Update(crc32.ChecksumIEEE(t.buf[start:]), crc32.IEEETable, t.buf[:start+n-tailSize])
	}
	return c == crc
}

// newOutputs opens a task's output files and, if times is set, the
// timeline that records when their bytes arrived.
func newOutputs(stdout, stderr, times string, limit int64, resume bool) (*outputs, error) {
	open := openOutput
	if resume {
		open = resumeOutput
	}
	out, err := open(stdout, limit)
	if err != nil {
		return nil, fmt.Errorf("stdout: %w", err)
	}
	o := &outputs{stdout: out, stderr: out, endKnown: make(chan struct{})}
	if stderr == "" || stderr != stdout {
		if o.stderr, err = open(stderr, limit); err != nil {
			out.close()
			return nil, fmt.Errorf("stderr: %w", err)
		}
		o.stderr.file = timeline.Stderr
	}
	if times != "" {
		// Created with the output files, which exist from the start.
		if resume {
			var sizes [2]int64
			sizes[o.stdout.file] = o.stdout.fileSize()
			sizes[o.stderr.file] = o.stderr.fileSize()
			o.tl, err = timeline.Resume(times, sizes, true)
		} else if o.tl, err = timeline.New(times, true); err == nil {
			err = o.tl.Open()
		}
		if err != nil {
			o.close()
			return nil, fmt.Errorf("output timeline: %w", err)
		}
		o.stdout.tl, o.stderr.tl = o.tl, o.tl
	}
	return o, nil
}

// fileSize is the size of the file: its output and the marker, if written.
func (o *outFile) fileSize() int64 {
	if o.f == nil {
		return 0
	}
	fi, err := o.f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (o *outputs) rewind() {
	o.stdout.rewind()
	if o.stderr != o.stdout {
		o.stderr.rewind()
	}
}

func (o *outputs) close() error {
	err := o.stdout.close()
	if o.stderr != o.stdout {
		err = errors.Join(err, o.stderr.close())
	}
	if terr := o.tl.Close(); terr != nil {
		err = errors.Join(err, fmt.Errorf("recording the output's arrival times: %w", terr))
	}
	return err
}

// writeErr says which output files could not all be written, nil if all were.
func (o *outputs) writeErr() error {
	var errs []error
	if err := o.stdout.failed; err != nil {
		errs = append(errs, fmt.Errorf("stdout: %w", err))
	}
	if err := o.stderr.failed; err != nil && o.stderr != o.stdout {
		errs = append(errs, fmt.Errorf("stderr: %w", err))
	}
	return errors.Join(errs...)
}

// progress returns a number that grows as the streams deliver output.
func (o *outputs) progress() int64 { return o.read.Load() }

// flush writes out the files, then their timeline, which so never points
// past what the files hold.
func (o *outputs) flush() error {
	err := o.stdout.flush()
	if o.stderr != o.stdout {
		err = errors.Join(err, o.stderr.flush())
	}
	_ = o.tl.Flush()
	return err
}

// Stream types of the engine's multiplexed stream.
const (
	streamStdin  = 0
	streamStdout = 1
	streamStderr = 2
	streamSystem = 3
)

// frameID identifies a frame of a timestamped log stream: its stream, its
// timestamp and its payload's length and checksum. The last frame a follow
// stream delivered is compared with the last message of the engine's log, to
// tell whether the stream delivered everything.
type frameID struct {
	ok     bool
	stream byte
	ts     string
	n      int64
	crc    uint32
}

// maxTimestamp bounds the timestamp prefix of a frame ("2006-01-02T15:04:05.000000000Z07:00 ").
const maxTimestamp = 64

// frameReader reads the frames of the engine's multiplexed stream. A log
// stream is requested with timestamps: each frame's payload starts with the
// message's timestamp and a space, which it strips. An attach stream has
// none.
type frameReader struct {
	r          *bufio.Reader
	timestamps bool
	hdr        [8]byte
	// cur is the frame being read; its payload has rest bytes left.
	cur  frameID
	rest int64
}

func newFrameReader(r io.Reader, timestamps bool) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 64<<10), timestamps: timestamps}
}

// next starts the next frame. It returns io.EOF at the end of the stream.
func (fr *frameReader) next() error {
	if fr.rest > 0 {
		if _, err := io.CopyN(io.Discard, fr.r, fr.rest); err != nil {
			return unexpected(err)
		}
		fr.rest = 0
	}
	if _, err := io.ReadFull(fr.r, fr.hdr[:]); err != nil {
		return err // io.EOF: the stream's end
	}
	n := int64(binary.BigEndian.Uint32(fr.hdr[4:]))
	switch fr.hdr[0] {
	case streamStdin, streamStdout, streamStderr:
	case streamSystem:
		msg, _ := io.ReadAll(io.LimitReader(fr.r, min(n, 4096)))
		return fmt.Errorf("engine: %s", msg)
	default:
		return fmt.Errorf("log stream: unknown stream type %d", fr.hdr[0])
	}
	if !fr.timestamps {
		fr.cur = frameID{ok: true, stream: fr.hdr[0]}
		fr.rest = n
		return nil
	}
	ts, err := fr.r.ReadSlice(' ')
	if err != nil || int64(len(ts)) > n || len(ts) > maxTimestamp {
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return unexpected(err)
		}
		return errors.New("log stream: frame without a timestamp")
	}
	fr.cur = frameID{ok: true, stream: fr.hdr[0], ts: string(ts[:len(ts)-1])}
	fr.rest = n - int64(len(ts))
	return nil
}

// Read reads the current frame's payload; io.EOF at its end.
func (fr *frameReader) Read(p []byte) (int, error) {
	if fr.rest == 0 {
		return 0, io.EOF
	}
	m, err := fr.r.Read(p[:min(int64(len(p)), fr.rest)])
	fr.rest -= int64(m)
	fr.cur.n += int64(m)
	fr.cur.crc = crc32.Update(fr.cur.crc, crc32.IEEETable, p[:m])
	if err != nil && fr.rest > 0 {
		return m, unexpected(err)
	}
	return m, nil
}

func unexpected(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// demux copies the engine's multiplexed stream r into the outputs,
// skipping what they already hold. A log stream (logs: requested with
// timestamps) records its last frame in o.last and ends once it delivered
// the end of the output (see setEnd); an attach stream only ends at the end
// of r. The files are flushed whenever r has nothing more at hand, and at
// the end.
func (o *outputs) demux(r io.Reader, logs bool) (err error) {
	o.rewind()
	defer func() {
		if ferr := o.flush(); ferr != nil && err == nil {
			err = fmt.Errorf("writing output: %w", ferr)
		}
	}()
	fr := newFrameReader(r, logs)
	buf := make([]byte, 64<<10)
	for {
		if fr.r.Buffered() == 0 {
			// About to wait for the engine: let readers see what came.
			if err := o.flush(); err != nil {
				return fmt.Errorf("writing output: %w", err)
			}
		}
		if err := fr.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		dst, tl := o.stdout, &o.tails[0]
		if fr.cur.stream == streamStderr {
			dst, tl = o.stderr, &o.tails[1]
		}
		// A log stream replays the engine's log: its frames carry the
		// time they first arrived.
		dst.at = time.Time{}
		if fr.cur.ts != "" {
			dst.at, _ = time.Parse(time.RFC3339Nano, fr.cur.ts)
		}
		for fr.rest > 0 {
			m, err := fr.Read(buf)
			if m > 0 {
				o.read.Add(int64(m))
				o.mu.Lock()
				tl.write(buf[:m])
				o.mu.Unlock()
				if werr := dst.write(buf[:m]); werr != nil {
					return fmt.Errorf("writing output: %w", werr)
				}
			}
			if err != nil {
				return err
			}
		}
		if logs && o.delivered(fr.cur) {
			return nil
		}
	}
}

// lastFrames returns the last frame of the timestamped log stream r, and
// the last of each stream (stdout, stderr; zero if the stream has none).
func lastFrames(r io.Reader) (frameID, [2]frameID, error) {
	fr := newFrameReader(r, true)
	var (
		last   frameID
		lastOf [2]frameID
	)
	for {
		if err := fr.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return last, lastOf, nil
			}
			return last, lastOf, err
		}
		if _, err := io.Copy(io.Discard, fr); err != nil {
			return last, lastOf, err
		}
		last = fr.cur
		if last.stream == streamStderr {
			lastOf[1] = last
		} else {
			lastOf[0] = last
		}
	}
}
