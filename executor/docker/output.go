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
)

// How output reaches the files
//
// The container's output goes to the engine's log driver; the executor reads
// it back with a following ContainerLogs stream, demultiplexes the frames and
// appends stdout and stderr to their files as they come, frame by frame, so
// nothing is held in memory beyond one 32 KiB buffer. Each file is capped at
// Config.OutputLimit bytes, after which the marker line ends it and the rest
// of the stream is only counted.
//
// Resuming: every log stream starts from the container's first byte, and an
// outFile counts (in pos) the bytes of its stream(s) it has consumed, kept
// or dropped. A new stream, after a restart of the container or of the
// executor, skips that many bytes of the streams that go to the file and
// appends the rest. After a restart of the executor, pos is the file's size
// (Recover): the file was written in stream order, without buffering, so its
// size is exactly how far the earlier executor got, even if it died mid-frame.
// This needs no timestamps (several frames can share one) and no state
// outside the file. A file that ends with the marker is complete.

// truncatedMarker returns the line that ends a capped file.
func truncatedMarker(limit int64) string {
	return "[berth: output truncated at " + strconv.FormatInt(limit, 10) + " bytes]\n"
}

// outFile is one output file. Not safe for concurrent use: one log stream
// at a time writes.
type outFile struct {
	f     *os.File // nil: output discarded (counted only)
	limit int64
	// size is the bytes of output in the file (without the marker).
	size int64
	// pos is the bytes of the stream consumed, kept or not.
	pos       int64
	truncated bool
	lastByte  byte
	// skip is what the current stream still has to skip.
	skip int64
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
	o.f = f
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
	o.f = f
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
		if o.f != nil {
			if _, err := io.WriteString(o.f, marker); err != nil {
				return err
			}
		}
		return nil
	}
	return o.put(p)
}

func (o *outFile) put(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if o.f != nil {
		if _, err := o.f.Write(p); err != nil {
			return err
		}
	}
	o.size += int64(len(p))
	o.lastByte = p[len(p)-1]
	return nil
}

func (o *outFile) close() error {
	if o.f == nil {
		return nil
	}
	return o.f.Close()
}

// outputs are a task's two files; they are one outFile when the paths are
// the same, so that the streams do not overwrite each other.
type outputs struct {
	stdout, stderr *outFile

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

// setEnd records the last message of the log (nil: unknown), once; if a
// stream already delivered it, the follow stream is stopped.
func (o *outputs) setEnd(f *frameID) {
	o.mu.Lock()
	o.end = f
	if f != nil && *f == o.last {
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

// setStop sets what stops the follow stream once the end is reached.
func (o *outputs) setStop(stop context.CancelFunc) {
	o.mu.Lock()
	o.stop = stop
	o.mu.Unlock()
}

// complete reports whether a stream delivered the end of the output (known
// once endKnown is closed).
func (o *outputs) complete() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reached || (o.end != nil && *o.end == o.last)
}

func newOutputs(stdout, stderr string, limit int64, resume bool) (*outputs, error) {
	open := openOutput
	if resume {
		open = resumeOutput
	}
	out, err := open(stdout, limit)
	if err != nil {
		return nil, fmt.Errorf("stdout: %w", err)
	}
	if stderr != "" && stderr == stdout {
		return &outputs{stdout: out, stderr: out, endKnown: make(chan struct{})}, nil
	}
	errf, err := open(stderr, limit)
	if err != nil {
		out.close()
		return nil, fmt.Errorf("stderr: %w", err)
	}
	return &outputs{stdout: out, stderr: errf, endKnown: make(chan struct{})}, nil
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

// frameReader reads the frames of the engine's multiplexed log stream,
// requested with timestamps: each frame's payload starts with the message's
// timestamp and a space, which it strips.
type frameReader struct {
	r   *bufio.Reader
	hdr [8]byte
	// cur is the frame being read; its payload has rest bytes left.
	cur  frameID
	rest int64
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: bufio.NewReaderSize(r, 64<<10)}
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

// demux copies the engine's multiplexed log stream r (requested with
// timestamps) into the outputs, skipping what they already hold, and
// records its last frame in o.last. It returns nil at the end of r, or
// once it delivered the end of the output (see setEnd).
func (o *outputs) demux(r io.Reader) error {
	o.rewind()
	fr := newFrameReader(r)
	buf := make([]byte, 32<<10)
	for {
		if err := fr.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		dst := o.stdout
		if fr.cur.stream == streamStderr {
			dst = o.stderr
		}
		for fr.rest > 0 {
			m, err := fr.Read(buf)
			if m > 0 {
				if werr := dst.write(buf[:m]); werr != nil {
					return fmt.Errorf("writing output: %w", werr)
				}
			}
			if err != nil {
				return err
			}
		}
		if o.delivered(fr.cur) {
			return nil
		}
	}
}

// lastFrame returns the last frame of the timestamped log stream r.
func lastFrame(r io.Reader) (frameID, error) {
	fr := newFrameReader(r)
	var last frameID
	for {
		if err := fr.next(); err != nil {
			if errors.Is(err, io.EOF) {
				return last, nil
			}
			return last, err
		}
		if _, err := io.Copy(io.Discard, fr); err != nil {
			return last, err
		}
		last = fr.cur
	}
}
