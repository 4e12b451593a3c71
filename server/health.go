package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/berth-run/berth/store"
	"golang.org/x/sys/unix"
)

// minFree is the free space in the data directory below which the health
// says the disk is full: a commit needs a few pages, and a job's output more.
const minFree = 64 << 10

// healthTimeout bounds the checks of one health request.
const healthTimeout = 5 * time.Second

// health answers whether the server is up, ready, and whether it is
// degraded: the store cannot write (disk full) or another check fails. A
// degraded server still serves reads, so the answer is 200 either way;
// "status" tells. A server still recovering its state answers 503, status
// "starting", with the error of every other request while it starts.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	if err := newQuery(r).Err(); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	ans := map[string]any{}
	if err := s.storeHealth(ctx); err != nil {
		ans["store"] = err.Error()
	}
	for name, check := range s.cfg.Checks {
		if err := check(ctx); err != nil {
			ans[name] = err.Error()
		}
	}
	status := "ok"
	if len(ans) > 0 {
		status = "degraded"
	}
	ans["ok"], ans["version"], ans["server_id"], ans["ready"] = true, s.cfg.Version, s.cfg.ServerID, true
	code := http.StatusOK
	if !s.ready() {
		status, code = "starting", http.StatusServiceUnavailable
		ans["ok"], ans["ready"], ans["error"] = false, false, errStarting
		w.Header().Set("Retry-After", "1")
	}
	ans["status"] = status
	writeJSON(w, code, ans)
}

// storeHealth says why the store cannot write, or nil. After a failed write
// it tries one, since space may have been freed while nothing wrote.
func (s *Server) storeHealth(ctx context.Context) error {
	if s.cfg.Store.WriteErr() != nil {
		if err := s.cfg.Store.WriteCheck(ctx); err != nil {
			if store.IsFull(err) {
				return fmt.Errorf("disk full: %w", err)
			}
			return fmt.Errorf("writes failing: %w", err)
		}
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(string(s.cfg.DataDir), &fs); err == nil {
		if free := fs.Bavail * uint64(fs.Bsize); free < minFree {
			return fmt.Errorf("disk full: %d bytes free in %s", free, s.cfg.DataDir)
		}
	}
	return nil
}
