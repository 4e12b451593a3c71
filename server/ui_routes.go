package server

import (
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/docs"
)

// uiCodes answers a one-time login code for the dashboard (berth ui), and
// the loopback URL that spends it when the server listens on TCP.
func (s *Server) uiCodes(w http.ResponseWriter, r *http.Request) {
	if err := newQuery(r).Err(); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	code := s.logins.NewCode()
	out := api.UICode{Code: code}
	s.mu.Lock()
	addr := s.tcpAddr
	s.mu.Unlock()
	if addr != "" {
		out.URL = "http://" + loopback(addr) + "/ui/login?code=" + url.QueryEscape(code)
	}
	writeJSON(w, http.StatusCreated, out)
}

// loopback turns a listener's address into one a local browser reaches:
// a wildcard host becomes the loopback address.
func loopback(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if ip != nil && ip.To4() == nil {
			host = "::1"
		} else {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, port)
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	if err := newQuery(r).Err(); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(docs.OpenAPI)
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	s.cfg.Metrics.ServeHTTP(w, r)
}

// uiLive streams the dashboard's digests (see ui.Digest) as server-sent
// events: those of the jobs pages, or with job=ID those of a job page. The
// stream ends when the page falls behind; the page then reconnects and
// re-reads what it shows.
func (s *Server) uiLive(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	var id int64
	if ids := q.ids("job"); len(ids) > 1 {
		q.fail(invalid("job", "one job at most, got %d", len(ids)))
	} else if len(ids) == 1 {
		id = ids[0]
	}
	if err := q.Err(); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	digests, stop := s.ui.Follow(id)
	defer stop()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fw := newFlushWriter(w)
	if err := fw.rc.Flush(); err != nil {
		return
	}
	ping := time.NewTicker(s.pingInterval)
	defer ping.Stop()
	ctx := r.Context()
	stopped := stopping(ctx)
	for {
		var err error
		select {
		case b, ok := <-digests:
			if !ok {
				return
			}
			_, err = fw.Write(b)
		case <-ping.C:
			_, err = fw.Write([]byte(": ping\n\n"))
		case <-ctx.Done():
			return
		case <-stopped:
			return
		}
		if err != nil {
			return
		}
	}
}
