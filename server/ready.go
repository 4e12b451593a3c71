package server

import (
	"net/http"
)

// ready reports whether the server has recovered its state (Config.Ready).
func (s *Server) ready() bool {
	if s.cfg.Ready == nil {
		return true
	}
	select {
	case <-s.cfg.Ready:
		return true
	default:
		return false
	}
}

// gate answers 503 "starting" until the server is ready, except for the
// health, which tells so itself. The API listens before the scheduler has
// loaded its state, so that clients meeting a restarting server learn that
// it is starting rather than that there is none.
func (s *Server) gate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.ready() || r.URL.Path == "/v1/health" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Retry-After", "1")
		s.writeError(w, r, errStarting, noRef)
	})
}
