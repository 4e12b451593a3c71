package docker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
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
		return &outputs{stdout: out, stderr: out}, nil
	}
	errf, err := open(stderr, limit)
	if err != nil {
		out.close()
		return nil, fmt.Errorf("stderr: %w", err)
	}
	return &outputs{stdout: out, stderr: errf}, nil
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

// demux copies the engine's multiplexed log stream r into the outputs,
// skipping what they already hold. It returns nil at the end of r.
func (o *outputs) demux(r io.Reader) error {
	o.rewind()
	var hdr [8]byte
	buf := make([]byte, 32<<10)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		n := int64(binary.BigEndian.Uint32(hdr[4:]))
		var dst *outFile
		switch hdr[0] {
		case streamStdin, streamStdout:
			dst = o.stdout
		case streamStderr:
			dst = o.stderr
		case streamSystem:
			msg, _ := io.ReadAll(io.LimitReader(r, min(n, 4096)))
			return fmt.Errorf("engine: %s", msg)
		default:
			return fmt.Errorf("log stream: unknown stream type %d", hdr[0])
		}
		for n > 0 {
			m, err := io.ReadFull(r, buf[:min(n, int64(len(buf)))])
			if m > 0 {
				if werr := dst.write(buf[:m]); werr != nil {
					return fmt.Errorf("writing output: %w", werr)
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
			n -= int64(m)
		}
	}
}
