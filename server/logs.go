package server

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"os"

	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
)

// copyBufSize is the chunk size of output copies: memory per stream stays
// bounded whatever the file size.
const copyBufSize = 64 << 10

// subscribeBuf is the event buffer of a subscription; a subscriber that
// falls further behind is dropped and re-reads the store.
const subscribeBuf = 256

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	ref, err := pathRef(r, "ref")
	q := newQuery(r)
	stream := q.str("stream", datadir.StdoutFile)
	offset := q.int64In("offset", 0, 0, math.MaxInt64)
	follow := q.boolean("follow")
	if err == nil {
		err = q.Err()
	}
	if err == nil && stream != datadir.StdoutFile && stream != datadir.StderrFile {
		err = invalid("stream", "invalid %q: want stdout or stderr", stream)
	}
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	ctx := r.Context()
	var events <-chan job.Event
	if follow {
		// Subscribe before reading the state, so that an end that comes
		// in between is not missed.
		var unsubscribe func()
		events, unsubscribe = s.cfg.Scheduler.Subscribe(subscribeBuf)
		defer func() { unsubscribe() }()
	}
	t, err := s.oneTask(ctx, ref)
	if err != nil {
		s.writeError(w, r, err, ref)
		return
	}
	path := s.taskFile(t, stream)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	lf := &logFile{path: path, offset: offset, buf: make([]byte, copyBufSize)}
	defer lf.close()
	if !follow || t.State.Terminal() {
		if err := lf.copyTo(w); err != nil {
			s.logStreamError(r, err)
		}
		return
	}

	watcher, err := newFileWatcher(&s.watches, path, string(s.cfg.DataDir))
	if err != nil {
		s.writeError(w, r, err, ref)
		return
	}
	defer watcher.Close()
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fw := newFlushWriter(w)
	_ = fw.rc.Flush() // the client sees the answer start while nothing is written yet
	stop := stopping(ctx)
	for {
		if err := lf.copyTo(fw); err != nil {
			s.logStreamError(r, err)
			return
		}
		select {
		case <-watcher.C:
		case ev, ok := <-events:
			if !ok {
				// Dropped for falling behind: subscribe again and re-read.
				var unsubscribe func()
				events, unsubscribe = s.cfg.Scheduler.Subscribe(subscribeBuf)
				defer unsubscribe()
				if t, err = s.cfg.Store.TaskGet(ctx, t.JobID, t.Index); err != nil || t.State.Terminal() {
					_ = lf.copyTo(fw)
					return
				}
				continue
			}
			if ev.Job == t.JobID && (ev.Removed || ev.Index == t.Index && ev.State.Terminal()) {
				// The task has ended and its output is complete: send the rest.
				if err := lf.copyTo(fw); err != nil {
					s.logStreamError(r, err)
				}
				return
			}
		case <-ctx.Done():
			return
		case <-stop:
			return
		}
	}
}

// logStreamError logs a failure of a stream already begun, which can no
// longer be answered as an error.
func (s *Server) logStreamError(r *http.Request, err error) {
	if errors.Is(err, context.Canceled) || r.Context().Err() != nil {
		return
	}
	s.log.WarnContext(r.Context(), "streaming output failed", "path", r.URL.Path, "err", err)
}

// logFile reads a task's output file from an offset on, opening it once it
// exists.
type logFile struct {
	path   string
	offset int64
	f      *os.File
	buf    []byte
}

// copyTo copies what the file holds past what was sent; a file that does
// not exist yet holds nothing.
func (l *logFile) copyTo(w io.Writer) error {
	if l.f == nil {
		f, err := os.Open(l.path)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		l.f = f
	}
	for {
		n, err := l.f.ReadAt(l.buf, l.offset)
		if n > 0 {
			if _, werr := w.Write(l.buf[:n]); werr != nil {
				return werr
			}
			l.offset += int64(n)
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (l *logFile) close() {
	if l.f != nil {
		l.f.Close()
	}
}
