package server

import (
	"net"
	"net/http"
	"net/url"

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
	out := map[string]string{"code": code, "url": ""}
	s.mu.Lock()
	addr := s.tcpAddr
	s.mu.Unlock()
	if addr != "" {
		out["url"] = "http://" + loopback(addr) + "/ui/login?code=" + url.QueryEscape(code)
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
