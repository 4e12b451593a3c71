package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/datadir"
)

// localWorker is the server's handle on its local worker.
type localWorker struct {
	dir      datadir.Dir
	log      *slog.Logger
	stopping atomic.Bool
	done     chan struct{} // closed when the supervising goroutine ends
	cancel   context.CancelFunc
}

// startLocalWorker starts the local worker as cfg.Worker says and keeps it
// running until stop.
func startLocalWorker(ctx context.Context, cfg ServeConfig, connect dispatch.ConnectConfig, log *slog.Logger) (*localWorker, error) {
	w := &localWorker{dir: cfg.DataDir, log: log, done: make(chan struct{})}
	switch cfg.Worker {
	case WorkerNone:
		close(w.done)
	case WorkerInProcess:
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		w.cancel = cancel
		conn, err := dispatch.Connect(ctx, connect)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("connecting the local worker: %w", err)
		}
		go func() {
			defer close(w.done)
			defer conn.Close()
			err := RunWorker(wctx, WorkerConfig{DataDir: cfg.DataDir, Local: true, Slots: cfg.Slots, Conn: conn, StopGrace: cfg.StopGrace, SessionIdle: cfg.SessionIdle, Logger: log, Version: cfg.Version})
			if err != nil && wctx.Err() == nil {
				log.Error("local worker stopped", "err", err)
			}
		}()
	case WorkerProcess:
		go w.supervise(cfg)
	}
	return w, nil
}

// supervise keeps one local worker process alive: it starts one unless the
// lock says one runs, then waits on the lock, which it gets only when that
// worker is gone.
func (w *localWorker) supervise(cfg ServeConfig) {
	defer close(w.done)
	for {
		if f, err := lockFile(w.dir.WorkerLock(), false); err == nil {
			err := w.spawn(cfg, f)
			f.Close()
			if err != nil {
				w.log.Error("starting the local worker", "err", err)
			}
		}
		f, err := lockFile(w.dir.WorkerLock(), true)
		if err != nil {
			w.log.Error("watching the local worker", "err", err)
			return
		}
		f.Close()
		if w.stopping.Load() {
			return
		}
		w.log.Warn("the local worker exited; starting another")
		time.Sleep(time.Second) // no tight loop if it cannot start at all
	}
}

// spawn starts a worker process under its reaper, in a session of their
// own; the worker inherits the locked file as fd 3.
func (w *localWorker) spawn(cfg ServeConfig, lock *os.File) error {
	logf, err := os.OpenFile(w.dir.WorkerLog(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	argv := append(append(append([]string{}, cfg.ReaperCommand...), "--"), cfg.WorkerCommand...)
	argv = append(argv, "--slots", strconv.Itoa(cfg.Slots), "--stop-grace", cfg.StopGrace.String(),
		"--session-idle", cfg.SessionIdle.String())
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "BERTH_HOME="+string(w.dir), "BERTH_WORKER_LOCK_FD=3")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{lock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	w.log.Info("local worker's reaper started", "pid", cmd.Process.Pid)
	// Reap it once its children are gone; the lock tells the supervisor
	// when the worker is.
	go cmd.Wait()
	return nil
}

// leave leaves the local worker running with its jobs: it reports them to
// the next server, as after a crash of this one.
func (w *localWorker) leave() {
	w.stopping.Store(true)
	if pid := w.pid(); pid > 0 {
		w.log.Info("the local worker keeps running with its jobs; they report to the next server (berth serve --stop-jobs-on-exit stops them)", "pid", pid)
	}
}

// stop asks the local worker to stop its jobs and exit, and waits for it,
// killing it after timeout.
func (w *localWorker) stop(timeout time.Duration) {
	w.stopping.Store(true)
	if w.cancel != nil {
		w.cancel()
	}
	pid := w.pid()
	if f, err := lockFile(w.dir.WorkerLock(), false); err == nil {
		f.Close() // no worker holds the lock: the pid file is stale
		pid = 0
	}
	if pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	select {
	case <-w.done:
		return
	case <-time.After(timeout):
	}
	if pid > 0 {
		w.log.Warn("the local worker did not stop in time; killing it", "pid", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	select {
	case <-w.done:
	case <-time.After(5 * time.Second):
	}
}

func (w *localWorker) pid() int {
	b, err := os.ReadFile(w.dir.WorkerPID())
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}
