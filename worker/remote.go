package worker

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/datadir"
)

// A remote worker (Config.TaskDir set) does not share the server's disk. It
// keeps each task's output in a directory of its own and streams it to the
// server while the task runs, and all of it before reporting the end, so
// that the server holds the whole output of every ended task.

// streamInterval is how often a running task's output is shipped.
const streamInterval = 250 * time.Millisecond

// outputStreams maps the streams to the files of a task directory.
var outputStreams = [...]struct{ stream, file string }{
	// The timeline first: on the server, no output file exists without it,
	// and where it points past the output, the output is on its way.
	{dispatch.StreamTimes, datadir.TimesFile},
	{dispatch.StreamStdout, datadir.StdoutFile},
	{dispatch.StreamStderr, datadir.StderrFile},
	{dispatch.StreamResult, datadir.ResultFile},
}

// remote reports whether the worker streams output to the server.
func (w *Worker) remote() bool { return w.cfg.TaskDir != nil }

// streamer ships one attempt's output files as they grow. Memory is one
// chunk buffer, whatever the output's size.
type streamer struct {
	w    *Worker
	key  dispatch.TaskKey
	dir  string
	offs [len(outputStreams)]int64
	buf  []byte
	stop chan struct{}
	done chan struct{}
}

// startStream starts shipping the files in dir. With reset it first tells
// the server to empty the task's files, which a new attempt starts with.
func (w *Worker) startStream(key dispatch.TaskKey, dir string, reset bool) (*streamer, error) {
	if reset {
		if _, err := w.conn.SendOutput(w.life, &dispatch.Output{TaskKey: key, Worker: w.cfg.ID, Reset: true}); err != nil {
			return nil, err
		}
	}
	s := &streamer{w: w, key: key, dir: dir, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s, nil
}

func (s *streamer) loop() {
	defer close(s.done)
	tick := time.NewTicker(streamInterval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			if err := s.flush(); err != nil {
				s.w.log.Warn("cannot stream output", "task", s.key.String(), "error", err)
			}
		}
	}
}

// finish stops the periodic shipping and ships what is left.
func (s *streamer) finish() error {
	close(s.stop)
	<-s.done
	return s.flush()
}

// flush ships everything written since the last flush.
func (s *streamer) flush() error {
	for i, st := range outputStreams {
		if err := s.flushFile(i, st.stream, filepath.Join(s.dir, st.file)); err != nil {
			return err
		}
	}
	return nil
}

func (s *streamer) flushFile(i int, stream, path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if s.buf == nil {
		s.buf = make([]byte, dispatch.OutputChunkMax)
	}
	for {
		n, err := f.ReadAt(s.buf, s.offs[i])
		if n > 0 {
			r, serr := s.w.conn.SendOutput(s.w.life, &dispatch.Output{TaskKey: s.key, Worker: s.w.cfg.ID,
				Stream: stream, Offset: s.offs[i], Data: s.buf[:n]})
			if serr != nil {
				return serr
			}
			// The server's size is where to go on: past what it took,
			// or back where it has a gap.
			s.offs[i] = r.Size
		}
		if err == io.EOF || n == 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
