package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-run/berth/executor"
	"golang.org/x/sys/unix"
)

const stateExt = ".json"

// statePath names the file of a task. Escaping keeps IDs with slashes or
// ".." inside the directory.
func (e *Executor) statePath(id string) string {
	return filepath.Join(e.stateDir, url.PathEscape(id)+stateExt)
}

// writeState records h in one write of a new file: a crash of the worker
// leaves no file, an empty one (skipped by Cleanup) or a whole one. No
// temporary file and rename, and no fsync: the file guards against a crash
// of the worker process, after which the page cache still has it, and an OS
// crash ends the tasks too. Per task this is the cheapest record there is.
func (e *Executor) writeState(h *executor.Handle) error {
	if e.stateDir == "" {
		return nil
	}
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if !e.stateDirMade.Load() {
		if err := os.MkdirAll(e.stateDir, 0o700); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		e.stateDirMade.Store(true)
	}
	if err := os.WriteFile(e.statePath(h.ID), b, 0o600); err != nil {
		return fmt.Errorf("writing task state: %w", err)
	}
	return nil
}

func (e *Executor) removeState(id string) error {
	if e.stateDir == "" {
		return nil
	}
	if err := os.Remove(e.statePath(id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// killLeftover kills the process group of a task an earlier instance
// started, if its leader still runs: the PID must exist with the same start
// time, else it is now another process. It reports whether it killed.
func (e *Executor) killLeftover(ctx context.Context, h *executor.Handle) bool {
	if h.PID <= 0 {
		return false
	}
	st, err := readProcStat(h.PID)
	if err != nil || st.StartTicks != h.StartTicks {
		return false
	}
	if err := unix.Kill(-h.PID, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		e.log.WarnContext(ctx, "killing leftover task", "task", h.ID, "pgid", h.PID, "err", err)
	}
	// In case the leader left its group.
	unix.Kill(h.PID, unix.SIGKILL)
	e.log.InfoContext(ctx, "killed leftover task", "task", h.ID, "pgid", h.PID)
	return true
}

// Cleanup handles the tasks an earlier instance of the executor left in
// StateDir: it kills those still running, as Recover does, removes their
// files, and returns their handles so that the caller can report them lost.
// Tasks this Executor tracks are left alone. Unreadable files are removed
// and reported in the error.
func (e *Executor) Cleanup(ctx context.Context) ([]*executor.Handle, error) {
	if e.stateDir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(e.stateDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cleanup: %w", err)
	}
	var (
		found []*executor.Handle
		errs  []error
	)
	for _, ent := range entries {
		if err := ctx.Err(); err != nil {
			return found, err
		}
		name := ent.Name()
		path := filepath.Join(e.stateDir, name)
		if strings.HasPrefix(name, ".tmp-") {
			os.Remove(path) // a write cut short
			continue
		}
		if !strings.HasSuffix(name, stateExt) || !ent.Type().IsRegular() {
			continue
		}
		h, err := readHandle(path)
		if err != nil {
			errs = append(errs, err)
			os.Remove(path)
			continue
		}
		e.mu.Lock()
		_, tracked := e.tasks[h.ID]
		e.mu.Unlock()
		if tracked {
			continue
		}
		e.killLeftover(ctx, h)
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
		found = append(found, h)
	}
	if err := errors.Join(errs...); err != nil {
		return found, fmt.Errorf("cleanup: %w", err)
	}
	return found, nil
}

func readHandle(path string) (*executor.Handle, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var h executor.Handle
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if h.ID == "" {
		return nil, fmt.Errorf("%s: no task ID", path)
	}
	return &h, nil
}
