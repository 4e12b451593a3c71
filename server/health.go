package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/berth-run/berth/api"
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
	ans := api.Health{OK: true, Status: "ok", Ready: true, Version: s.cfg.Version, ServerID: s.cfg.ServerID}
	if err := s.storeHealth(ctx); err != nil {
		ans.Store = err.Error()
	}
	if s.cfg.DispatchCheck != nil {
		if err := s.cfg.DispatchCheck(ctx); err != nil {
			ans.Dispatch = err.Error()
		}
	}
	if ans.Store != "" || ans.Dispatch != "" {
		ans.Status = "degraded"
	}
	code := http.StatusOK
	if !s.ready() {
		ans.Status, code = "starting", http.StatusServiceUnavailable
		ans.OK, ans.Ready, ans.Error = false, false, errStarting.body()
		w.Header().Set("Retry-After", "1")
	}
	if n, ok := s.disk.get(ctx, string(s.cfg.DataDir)); ok {
		ans.DataDirBytes = n
	}
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

// diskUseMaxAge is how old the disk use the health reports may be: walking
// a data directory of many jobs takes a while, so it is done at most this
// often, in the background once a first figure is known.
const diskUseMaxAge = 30 * time.Second

// diskUse caches the disk use of the data directory.
type diskUse struct {
	mu      sync.Mutex
	bytes   int64
	at      time.Time
	walking bool
}

// get returns the disk use of dir: walked now the first time, later the
// last figure while a walk in the background refreshes one older than
// diskUseMaxAge. ok is false if none is known yet.
func (d *diskUse) get(ctx context.Context, dir string) (int64, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.at.IsZero() {
		if n, err := duWalk(ctx, dir); err == nil {
			d.bytes, d.at = n, time.Now()
		}
		return d.bytes, !d.at.IsZero()
	}
	if time.Since(d.at) > diskUseMaxAge && !d.walking {
		d.walking = true
		go func() {
			n, err := duWalk(context.Background(), dir)
			d.mu.Lock()
			defer d.mu.Unlock()
			if err == nil {
				d.bytes, d.at = n, time.Now()
			}
			d.walking = false
		}()
	}
	return d.bytes, true
}

// duWalk returns the bytes the files under dir take on disk (allocated
// blocks, as du counts them). Files removed during the walk are skipped.
func duWalk(ctx context.Context, dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fi, err := e.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += fi.Size()
		}
		return nil
	})
	return n, err
}
