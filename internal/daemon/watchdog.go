package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor/docker"
	"github.com/berth-run/berth/internal/procmark"
	"github.com/berth-run/berth/worker"
)

// The watchdog is the fence that does not live in the worker's process: a
// small process of its own (`berth watchdog DIR`, started by the worker)
// that kills the worker's tasks when their lease lapses and the worker did
// not, because it hangs (SIGSTOP, a deadlock, a long pause). The worker
// renews the lease by rewriting DIR/lease.json at each answered heartbeat;
// the watchdog sleeps until the lease plus dispatch.FenceGrace ends, reads
// the file again, and if it was not renewed kills every process that
// carries the worker's marker in its environment and every container with
// the worker's label, then exits. It needs nothing per task: the marker
// and the label find them, even a process that left its process group.
// A worker that stops cleanly removes the file, and the watchdog exits.

// leaseState is what lease.json holds.
type leaseState struct {
	// Deadline is when the lease ends, in CLOCK_BOOTTIME nanoseconds: a
	// clock both processes read alike, which a frozen process does not stop.
	Deadline int64 `json:"deadline"`
	// Grace is how long after Deadline the watchdog kills.
	Grace time.Duration `json:"grace"`
	// Marker is the "NAME=VALUE" environment entry of the worker's process
	// tasks.
	Marker string `json:"marker"`
	// Instance is the berth.executor label of the worker's containers.
	Instance string `json:"instance,omitempty"`
	// ServerLock, for the local worker, is the lock its server holds while
	// it runs: while no server holds it, nobody can give the tasks away,
	// and the watchdog waits (a restarted worker takes them over).
	ServerLock string `json:"server_lock,omitempty"`
}

func bootNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts)
	return ts.Nano()
}

// fenceMarker is the environment entry that marks the process tasks of the
// worker whose state lives in dir.
func fenceMarker(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "BERTH_FENCE=" + hex.EncodeToString(sum[:8])
}

// sessionMarker is the environment entry that marks the processes of the
// OpenJD sessions of the worker whose state lives in dir: one that restarts
// kills them (worker.Config.SessionMarker).
func sessionMarker(dir string) string {
	sum := sha256.Sum256([]byte(dir))
	return "BERTH_SESSION=" + hex.EncodeToString(sum[:8])
}

// watchdogFence is the worker's side of its watchdog (worker.Fence).
type watchdogFence struct {
	dir        string
	marker     string
	instance   string
	serverLock string // set for the local worker
	exe        string
	log        *slog.Logger
}

var _ worker.Fence = (*watchdogFence)(nil)

func newWatchdogFence(dir, instance string, log *slog.Logger) (*watchdogFence, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding berth's executable for the watchdog: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &watchdogFence{dir: dir, marker: fenceMarker(dir), instance: instance, exe: exe, log: log}, nil
}

func (f *watchdogFence) leasePath() string { return filepath.Join(f.dir, "lease.json") }
func (f *watchdogFence) lockPath() string  { return filepath.Join(f.dir, "watchdog.lock") }

// Renew writes the lease and makes sure a watchdog runs.
func (f *watchdogFence) Renew(until time.Time) error {
	st := leaseState{Deadline: bootNow() + int64(time.Until(until)), Grace: dispatch.FenceGrace, Marker: f.marker, Instance: f.instance, ServerLock: f.serverLock}
	if err := writeJSON(f.leasePath(), st); err != nil {
		return err
	}
	lock, err := lockFile(f.lockPath(), false)
	if err != nil {
		return nil // one runs
	}
	lock.Close()
	cmd := exec.Command(f.exe, "watchdog", f.dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if lf, err := os.OpenFile(filepath.Join(f.dir, "watchdog.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); err == nil {
		cmd.Stderr = lf
		defer lf.Close()
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the watchdog: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// Until reads the lease an earlier run left.
func (f *watchdogFence) Until() time.Time {
	st, err := readLease(f.leasePath())
	if err != nil {
		return time.Time{}
	}
	return time.Now().Add(time.Duration(st.Deadline - bootNow()))
}

// fence is f as a worker.Fence: nil if f is.
func (f *watchdogFence) fence() worker.Fence {
	if f == nil {
		return nil
	}
	return f
}

// taskEnv is what marks the worker's process tasks for f.
func (f *watchdogFence) taskEnv() []string {
	if f == nil {
		return nil
	}
	return []string{f.marker}
}

// Close ends the lease with the worker: the watchdog exits.
func (f *watchdogFence) Close() {
	if f == nil {
		return
	}
	if err := os.Remove(f.leasePath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		f.log.Warn("cannot remove the lease file", "err", err)
	}
}

func readLease(path string) (*leaseState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var st leaseState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &st, nil
}

// RunWatchdog is `berth watchdog DIR`: it enforces the lease in DIR until
// the worker removes it, or kills the worker's tasks when it lapses.
func RunWatchdog(ctx context.Context, dir string, log *slog.Logger) error {
	f := &watchdogFence{dir: dir}
	lock, err := lockFile(f.lockPath(), false)
	if err != nil {
		return nil // another watchdog runs for dir
	}
	defer lock.Close()
	for {
		st, err := readLease(f.leasePath())
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		wait := time.Duration(st.Deadline + int64(st.Grace) - bootNow())
		if wait <= 0 && st.ServerLock != "" {
			if held, err := lockHeld(st.ServerLock); err == nil && !held {
				wait = st.Grace // no server: check again later
			}
		}
		if wait > 0 {
			select {
			case <-time.After(wait):
				continue
			case <-ctx.Done():
				return nil
			}
		}
		log.Warn("the worker's lease lapsed: killing its tasks", "dir", dir)
		n := procmark.Kill(st.Marker)
		m := killContainers(ctx, st.Instance, log)
		log.Warn("fenced", "processes", n, "containers", m)
		_ = os.Remove(f.leasePath())
		return nil
	}
}

// killContainers kills the running containers labelled with instance.
func killContainers(ctx context.Context, instance string, log *slog.Logger) int {
	if instance == "" {
		return 0
	}
	cli, err := client.New(client.FromEnv)
	if err != nil {
		return 0
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{Filters: make(client.Filters).Add("label", docker.LabelExecutor+"="+instance)})
	if err != nil {
		log.Warn("cannot list the worker's containers", "err", err)
		return 0
	}
	n := 0
	for _, c := range list.Items {
		if _, err := cli.ContainerKill(ctx, c.ID, client.ContainerKillOptions{Signal: "KILL"}); err == nil {
			n++
		}
	}
	return n
}
