package server

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/berth-run/berth/job"
)

// coalesceMax bounds the coalesce parameter of the events stream.
const coalesceMax = 10 * time.Second

// events streams job.Events as server-sent events until the client goes,
// the server stops, or the subscription is dropped for falling behind (the
// client then reconnects and re-reads what it needs).
//
// The stream is flushed once per batch: the events already waiting are
// sent with the first, and with coalesce=D those that come within D of it
// too: a client watching a busy server then costs it a few writes a
// second, not one per event. (The dashboard's pages follow digests
// instead, /ui/live.)
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	jobs := q.ids("job")
	coalesce, _ := q.duration("coalesce")
	if coalesce < 0 || coalesce > coalesceMax {
		q.fail(invalid("coalesce", "%s is out of range: want 0 to %s", coalesce, coalesceMax))
	}
	if err := q.Err(); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	buf := subscribeBuf
	if coalesce > 0 {
		buf = coalesceBuf // holds what comes while the stream sleeps
	}
	events, unsubscribe := s.cfg.Scheduler.Subscribe(buf)
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
	// Batches are written in one go: a busy stream makes one syscall per
	// flush, not one per 4 KB.
	bw := bufio.NewWriterSize(w, 32<<10)
	flush := func() error {
		if err := bw.Flush(); err != nil {
			return err
		}
		return fw.rc.Flush()
	}
	write := func(ev job.Event) error {
		if len(jobs) > 0 && !slices.Contains(jobs, ev.Job) {
			return nil
		}
		b := s.encoded.get(ev)
		if b == nil {
			return nil
		}
		_, err := bw.Write(b)
		return err
	}
	var window *time.Timer
	if coalesce > 0 {
		window = time.NewTimer(coalesce)
		window.Stop()
		defer window.Stop()
	}
	for {
		var err error
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			err = write(ev)
			if window != nil {
				// Sleep through the window rather than wake for each
				// event, then take all that came.
				window.Reset(coalesce)
				select {
				case <-window.C:
				case <-ctx.Done():
					return
				case <-stop:
					return
				}
			}
		batch:
			for err == nil {
				select {
				case ev, ok := <-events:
					if !ok {
						_ = flush()
						return
					}
					err = write(ev)
				default:
					break batch
				}
			}
			if err == nil {
				err = flush()
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

// coalesceBuf is the event buffer of a coalesced stream: a window's
// events of a busy server.
const coalesceBuf = 4096

// eventCache keeps the encoding of recent events, so that every stream
// sends an event's bytes without encoding it again: by sequence number, in
// a ring.
type eventCache struct {
	mu   sync.Mutex
	ring [eventCacheSize]struct {
		seq uint64
		b   []byte
	}
}

const eventCacheSize = 4096

// get returns the SSE block of ev ("event: task\ndata: JSON\n\n"), nil if
// it cannot be encoded.
func (c *eventCache) get(ev job.Event) []byte {
	slot := &c.ring[ev.Seq%eventCacheSize]
	c.mu.Lock()
	if ev.Seq != 0 && slot.seq == ev.Seq && slot.b != nil {
		b := slot.b
		c.mu.Unlock()
		return b
	}
	c.mu.Unlock()
	data, err := json.Marshal(ev)
	if err != nil {
		return nil
	}
	b := make([]byte, 0, len(data)+20)
	b = append(b, "event: task\ndata: "...)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	if ev.Seq != 0 {
		c.mu.Lock()
		slot.seq, slot.b = ev.Seq, b
		c.mu.Unlock()
	}
	return b
}
