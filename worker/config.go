package worker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
)

// Config configures a Worker.
type Config struct {
	// ID names the worker; the server sends it controls on
	// berth.control.<ID>. Defaults to the host name, a dash and a random suffix.
	ID string
	// Host is the host name reported in claims and heartbeats. Defaults to
	// os.Hostname().
	Host string
	// Pool is the pool whose work the worker runs. Defaults to job.PoolDefault.
	Pool string
	// Slots is how many tasks the worker runs at once. Defaults to runtime.NumCPU().
	Slots int
	// Labels are reported in heartbeats. Defaults to none.
	Labels map[string]string
	// Executor runs the tasks. Required.
	Executor executor.Executor
	// Conn is the connection to the dispatch NATS server. Required.
	Conn *dispatch.Conn
	// Logger receives the worker's log. Defaults to discarding it.
	Logger *slog.Logger
	// Version is reported in heartbeats. Defaults to "dev".
	Version string
	// StopGrace is the time between SIGTERM and SIGKILL when the worker
	// stops a task for its time limit or its own shutdown, and for a
	// terminate control that gives none. Defaults to StopGraceDefault.
	StopGrace time.Duration
	// ShutdownTimeout bounds how long Run, once its context is canceled,
	// waits for the tasks it stopped to end and for the server to record
	// their ends. Defaults to StopGrace plus ShutdownSlackDefault.
	ShutdownTimeout time.Duration
	// TaskDir, when set, makes this a remote worker, one that does not share
	// the server's disk: each task's files are kept in the directory it
	// returns and streamed to the server, and the task's working directory
	// defaults to it. Defaults to nil: the server's paths in the Work are
	// written directly.
	TaskDir func(dispatch.TaskKey) string
	// SessionMarker is a KEY=VALUE set in the environment of every process
	// of the worker's OpenJD sessions, unique to the worker's state on this
	// host: at start, the worker kills the processes that carry it, which
	// sessions of its earlier run left. Empty, nothing is marked or killed.
	SessionMarker string
	// SessionIdle is how long an OpenJD session that has no task left keeps
	// its environments entered for a task of its step that may yet come
	// (a retry); 0, the default, exits them at once.
	SessionIdle time.Duration
	// DrainTimeout is how long a stopping worker lets running tasks finish
	// on their own before it stops them. Defaults to 0: stop them at once.
	DrainTimeout time.Duration
	// Fence is the watchdog that kills the worker's tasks if their lease
	// lapses while the worker hangs. Defaults to none: only the worker
	// itself fences its tasks.
	Fence Fence
	// NoServer, when set, reports whether no server can be running now
	// (the local worker checks the server's lock): an unanswered heartbeat
	// then still renews the lease, since nobody can give the tasks away.
	// Defaults to nil: an unanswered heartbeat renews nothing.
	NoServer func() bool
	// TaskEnv is added to the environment of every process task; the
	// watchdog finds the worker's processes by it. Defaults to none.
	TaskEnv []string
}

// Defaults of Config.
const (
	StopGraceDefault     = 10 * time.Second
	ShutdownSlackDefault = 10 * time.Second
	VersionDefault       = "dev"
)

// WithDefaults returns a copy of c with defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Host == "" {
		c.Host, _ = os.Hostname()
		if c.Host == "" {
			c.Host = "localhost"
		}
	}
	if c.ID == "" {
		b := make([]byte, 3)
		_, _ = rand.Read(b) // crypto/rand.Read never fails
		c.ID = dispatch.SanitizeWorkerID(c.Host)
		c.ID = c.ID[:min(len(c.ID), 57)] + "-" + hex.EncodeToString(b)
	}
	if c.Pool == "" {
		c.Pool = job.PoolDefault
	}
	if c.Slots == 0 {
		c.Slots = runtime.NumCPU()
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Version == "" {
		c.Version = VersionDefault
	}
	if c.StopGrace == 0 {
		c.StopGrace = StopGraceDefault
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = c.DrainTimeout + c.StopGrace + ShutdownSlackDefault
	}
	return c
}

func (c *Config) validate() error {
	switch {
	case c.Executor == nil:
		return errors.New("worker: Executor is required")
	case c.Conn == nil:
		return errors.New("worker: Conn is required")
	case c.Slots < 0:
		return fmt.Errorf("worker: Slots is %d, want 1 or more", c.Slots)
	case c.StopGrace < 0:
		return fmt.Errorf("worker: StopGrace is %s, want 0 (the default) or more", c.StopGrace)
	case c.SessionIdle < 0:
		return fmt.Errorf("worker: SessionIdle is %s, want 0 (the default) or more", c.SessionIdle)
	case c.DrainTimeout < 0:
		return fmt.Errorf("worker: DrainTimeout is %s, want 0 (the default) or more", c.DrainTimeout)
	case c.ShutdownTimeout < 0:
		return fmt.Errorf("worker: ShutdownTimeout is %s, want 0 (the default) or more", c.ShutdownTimeout)
	}
	if err := dispatch.CheckWorkerID(c.ID); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if err := job.CheckPool(c.Pool); err != nil {
		return fmt.Errorf("worker: Pool: %w", err)
	}
	for k := range c.Labels {
		if err := job.CheckLabelKey("labels", k); err != nil {
			return fmt.Errorf("worker: Labels: %w", err)
		}
	}
	return nil
}
