package server

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"os"
	"time"

	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/internal/timeline"
	"github.com/berth-run/berth/job"
)

// copyBufSize is the chunk size of output copies: memory per stream stays
// bounded whatever the file size.
const copyBufSize = 64 << 10

// subscribeBuf is the event buffer of a subscription; a subscriber that
// falls further behind is dropped and re-reads the store.
const subscribeBuf = 256

// The streams the logs API serves.
const (
	streamStdout = datadir.StdoutFile
	streamStderr = datadir.StderrFile
	streamBoth   = "both"
)

// logParams are the query of a logs request.
type logParams struct {
	stream string
	offset int64
	follow bool
	stamps bool
	since  time.Time
}

func (s *Server) logs(w http.ResponseWriter, r *http.Request) {
	ref, err := pathRef(r, "ref")
	q := newQuery(r)
	p := logParams{
		stream: q.str("stream", streamStdout),
		offset: q.int64In("offset", 0, 0, math.MaxInt64),
		follow: q.boolean("follow"),
		stamps: q.boolean("timestamps"),
	}
	if v := q.str("since", ""); v != "" {
		var perr error
		if p.since, perr = time.Parse(time.RFC3339Nano, v); perr != nil {
			q.fail(invalid("since", "invalid %q: want an RFC 3339 time (2006-01-02T15:04:05Z)", v))
		}
	}
	if err == nil {
		err = q.Err()
	}
	if err == nil && p.stream != streamStdout && p.stream != streamStderr && p.stream != streamBoth {
		err = invalid("stream", "invalid %q: want stdout, stderr or both", p.stream)
	}
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	ctx := r.Context()
	var events <-chan job.Event
	if p.follow {
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
	src, err := s.logSource(t, &p, t.State.Terminal() || !p.follow)
	if err != nil {
		s.writeError(w, r, err, ref)
		return
	}
	defer func() {
		if src != nil {
			src.close()
		}
	}()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if !p.follow || t.State.Terminal() {
		if err := src.copyTo(w, t.State.Terminal()); err != nil {
			s.logStreamError(r, err)
		}
		return
	}

	var watched []string
	for _, name := range s.logFiles(&p) {
		watched = append(watched, s.taskFile(t, name))
	}
	wake := make(chan struct{}, 1)
	for _, path := range watched {
		watcher, err := newFileWatcher(&s.watches, path, string(s.cfg.DataDir))
		if err != nil {
			s.writeError(w, r, err, ref)
			return
		}
		defer watcher.Close()
		go func() {
			for {
				select {
				case _, ok := <-watcher.C:
					if !ok {
						return
					}
					select {
					case wake <- struct{}{}:
					default:
					}
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fw := newFlushWriter(w)
	_ = fw.rc.Flush() // the client sees the answer start while nothing is written yet
	stop := stopping(ctx)
	// send writes what is there; until the source is known (no output yet),
	// it looks for it again.
	send := func(final bool) error {
		if src == nil {
			if src, err = s.logSource(t, &p, final); src == nil || err != nil {
				return err
			}
		}
		return src.copyTo(fw, final)
	}
	for {
		if err := send(false); err != nil {
			s.logStreamError(r, err)
			return
		}
		select {
		case <-wake:
		case ev, ok := <-events:
			if !ok {
				// Dropped for falling behind: subscribe again and re-read.
				var unsubscribe func()
				events, unsubscribe = s.cfg.Scheduler.Subscribe(subscribeBuf)
				defer unsubscribe()
				if t, err = s.cfg.Store.TaskGet(ctx, t.JobID, t.Index); err != nil || t.State.Terminal() {
					_ = send(true)
					return
				}
				continue
			}
			if ev.Job == t.JobID && (ev.Removed || ev.Index == t.Index && ev.State.Terminal()) {
				// The task has ended and its output is complete: send the rest.
				if err := send(true); err != nil {
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

// logFiles names the files a logs request reads.
func (s *Server) logFiles(p *logParams) []string {
	switch {
	case p.stream != streamBoth && !p.stamps && p.since.IsZero():
		return []string{p.stream}
	case p.stream == streamBoth:
		return []string{datadir.TimesFile, datadir.StdoutFile, datadir.StderrFile}
	}
	return []string{datadir.TimesFile, p.stream}
}

// errNoTimes answers --timestamps and --since for output without a
// timeline.
func errNoTimes(p *logParams) error {
	field := "since"
	if p.stamps {
		field = "timestamps"
	}
	return invalid(field, "the task's output has no arrival times: it was written by an OpenJD session or by a berth that did not record them")
}

// logSource picks how to serve a request: one file as it is, or, for both
// streams, times or since, the timeline's merge. Output without a timeline
// is served stdout, then stderr; asked for its times, it is an error. nil
// with no error means that nothing tells yet (no output so far) and the
// task runs on (final false).
func (s *Server) logSource(t *job.Task, p *logParams, final bool) (logSource, error) {
	file := func(name string) *logFile {
		return &logFile{path: s.taskFile(t, name), buf: make([]byte, copyBufSize)}
	}
	if files := s.logFiles(p); len(files) == 1 {
		lf := file(p.stream)
		lf.offset = p.offset
		return &rawSource{*lf}, nil
	}
	want := [2]bool{p.stream != streamStderr, p.stream != streamStdout}
	tl, err := timeline.OpenReader(s.taskFile(t, datadir.TimesFile))
	if err == nil {
		return newMerger(tl, s.taskFile(t, datadir.StdoutFile), s.taskFile(t, datadir.StderrFile), want, p.since, p.stamps, p.offset), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	empty := true
	for i, name := range []string{datadir.StdoutFile, datadir.StderrFile} {
		if fi, err := os.Stat(s.taskFile(t, name)); want[i] && err == nil && fi.Size() > 0 {
			empty = false
		}
	}
	switch {
	case empty && !final:
		return nil, nil
	case !empty && (p.stamps || !p.since.IsZero()):
		return nil, errNoTimes(p)
	}
	out, errf := file(datadir.StdoutFile), file(datadir.StderrFile)
	if !want[0] {
		out.path = ""
	}
	if !want[1] {
		errf.path = ""
	}
	return &concatSource{out: out, err: errf, skip: p.offset}, nil
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
// not exist yet (or no path) holds nothing.
func (l *logFile) copyTo(w io.Writer) error {
	if l.path == "" {
		return nil
	}
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
