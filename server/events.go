package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// events streams job.Events as server-sent events until the client goes,
// the server stops, or the subscription is dropped for falling behind (the
// client then reconnects and re-reads what it needs).
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	jobs := q.ids("job")
	if err := q.Err(); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	events, unsubscribe := s.cfg.Scheduler.Subscribe(subscribeBuf)
	defer unsubscribe()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // proxies: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	fw := newFlushWriter(w)
	if err := fw.rc.Flush(); err != nil {
		return
	}
	ping := time.NewTicker(s.pingInterval)
	defer ping.Stop()
	ctx := r.Context()
	stop := stopping(ctx)
	for {
		var err error
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			if len(jobs) > 0 && !slices.Contains(jobs, ev.Job) {
				continue
			}
			b, merr := json.Marshal(ev)
			if merr != nil {
				s.log.ErrorContext(ctx, "encoding an event", "err", merr)
				continue
			}
			_, err = fmt.Fprintf(fw, "event: task\ndata: %s\n\n", b)
		case <-ping.C:
			// Keeps proxies and the client from taking a quiet stream for dead.
			_, err = fmt.Fprint(fw, ": ping\n\n")
		case <-ctx.Done():
			return
		case <-stop:
			return
		}
		if err != nil {
			return
		}
	}
}
