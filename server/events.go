package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/berth-run/berth/job"
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
	// write encodes one event; the stream is flushed once per batch: the
	// events already waiting are sent with the first, so that a busy
	// server (and 20 dashboards watching it) makes one write, not one per
	// event.
	write := func(ev job.Event) error {
		if len(jobs) > 0 && !slices.Contains(jobs, ev.Job) {
			return nil
		}
		b, merr := json.Marshal(ev)
		if merr != nil {
			s.log.ErrorContext(ctx, "encoding an event", "err", merr)
			return nil
		}
		_, err := fmt.Fprintf(w, "event: task\ndata: %s\n\n", b)
		return err
	}
	for {
		var err error
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			err = write(ev)
		batch:
			for n := 0; err == nil && n < eventBatchMax; n++ {
				select {
				case ev, ok := <-events:
					if !ok {
						_ = fw.rc.Flush()
						return
					}
					err = write(ev)
				default:
					break batch
				}
			}
			if err == nil {
				err = fw.rc.Flush()
			}
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

// eventBatchMax bounds the events written before a flush.
const eventBatchMax = 256
