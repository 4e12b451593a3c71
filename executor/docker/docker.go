// Package docker runs berth tasks as Docker containers, through the Docker
// Engine API (github.com/moby/moby/client, with API version negotiation, so
// that engines from API 1.40 on work; DOCKER_HOST and the other DOCKER_*
// variables are honoured).
//
// A task is one container, labelled berth.task=<task ID> and
// berth.executor=<Config.Instance>. It is followed without polling: a
// ContainerWait for its exit, an attach stream (then, after a restart of the
// container or of the executor, following log streams) demultiplexed into
// the task's stdout and stderr files (see output.go), a stats stream for CPU
// time and peak memory (stats.go), and one events stream per executor for
// start, die, pause, unpause, kill and OOM (events.go). At the end the files
// the spec asks for are copied to the host (stage.go). A restarted caller
// re-attaches with Recover, and removes what nobody tracks with Cleanup
// (reconcile.go). Exec runs further commands in a task's container, as an
// OpenJD session runs its actions (exec.go).
//
// The file split follows Nomad's docker driver: docker.go (Executor, Config,
// New and the control methods), config.go (the typed executor.ContainerSpec
// to the engine's container config), start.go and image.go (create and
// start, pull policy), state.go (the handle's state), handle.go (a task's
// wait and log loop), events.go, stats.go, output.go, stage.go,
// reconcile.go and exec.go.
package docker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"
)

// Driver is the Handle.Driver of container tasks.
const Driver = "docker"

// OutputLimitDefault is the default of Config.OutputLimit: 1 GiB per stream.
const OutputLimitDefault int64 = 1 << 30

// LogDriverDefault is the default of Config.LogDriver. The engine's "local"
// driver keeps output byte for byte (json-file mangles bytes that are not
// UTF-8), which the executor reads back through the logs API.
const LogDriverDefault = "local"

// ErrStillRunning is returned by Destroy without force for a task that has
// not ended. It matches executor.ErrNotRunning, as the process executor's does.
var ErrStillRunning error = stillRunningError{}

type stillRunningError struct{}

func (stillRunningError) Error() string        { return "task is still running" }
func (stillRunningError) Is(target error) bool { return target == executor.ErrNotRunning }

// Config configures an Executor.
type Config struct {
	// Client is the Engine API client. Defaults to one configured from the
	// environment (DOCKER_HOST, DOCKER_API_VERSION, DOCKER_CERT_PATH,
	// DOCKER_TLS_VERIFY) with API version negotiation; the Executor closes
	// only a client it made.
	Client *client.Client
	// Instance identifies the owner of the containers (a worker ID): it is
	// the berth.executor label, which Recover and Cleanup go by. Two
	// executors on one engine must not share it. Defaults to the host name.
	Instance string
	// Logger receives task starts and exits. Defaults to discarding.
	Logger *slog.Logger
	// OutputLimit caps each of a task's output files in bytes; output past
	// it is dropped and a line "[berth: output truncated at N bytes]" ends
	// the file. Defaults to OutputLimitDefault.
	OutputLimit int64
	// LogDriver is the engine's log driver for the containers; the executor
	// reads output back through it, so it must support reading. Defaults to
	// LogDriverDefault.
	LogDriver string
	// LogOptions are the log driver's options. Defaults, for the local
	// driver, to files of twice OutputLimit plus 64 MiB, at most 2, not
	// compressed, so that the engine keeps at least what the output files
	// can hold; for other drivers to none.
	LogOptions map[string]string
	// StageOutLimit bounds the bytes of the files a task's stage-out
	// copies to the host. Defaults to StageOutLimitDefault.
	StageOutLimit int64
}

// WithDefaults returns a copy of c with the defaults filled in.
func (c Config) WithDefaults() (Config, error) {
	if c.Instance == "" {
		h, err := os.Hostname()
		if err != nil {
			return c, fmt.Errorf("instance: %w", err)
		}
		c.Instance = h
	}
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	c.OutputLimit = cmp.Or(c.OutputLimit, OutputLimitDefault)
	c.StageOutLimit = cmp.Or(c.StageOutLimit, StageOutLimitDefault)
	c.LogDriver = cmp.Or(c.LogDriver, LogDriverDefault)
	if c.LogOptions == nil && c.LogDriver == "local" {
		size := min(2*c.OutputLimit, math.MaxInt64/2) + 64<<20
		c.LogOptions = map[string]string{"max-size": strconv.FormatInt(size, 10), "max-file": "2", "compress": "false"}
	}
	return c, nil
}

func (c *Config) validate() error {
	if c.OutputLimit < 0 {
		return errors.New("negative OutputLimit")
	}
	if c.StageOutLimit < 0 {
		return errors.New("negative StageOutLimit")
	}
	return nil
}

// Executor runs tasks as containers. It is safe for concurrent use. Close
// it to end its goroutines; the containers live on.
type Executor struct {
	cfg       Config
	cli       *client.Client
	ownClient bool
	log       *slog.Logger

	// ctx ends the executor's goroutines at Close.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	tasks executor.Registry[*task]
	// hostKill is unix.Kill; tests make it fail, as for a worker that may
	// not signal a container's processes.
	hostKill func(pid int, sig unix.Signal) error
	// containers maps container IDs to tasks, for events; guarded by mu.
	mu         sync.Mutex
	containers map[string]*task
}

var (
	_ executor.Executor      = (*Executor)(nil)
	_ executor.Recoverer     = (*Executor)(nil)
	_ executor.Cleaner       = (*Executor)(nil)
	_ executor.StateNotifier = (*Executor)(nil)
	_ executor.Execer        = (*Executor)(nil)
	_ executor.Signaler      = (*Executor)(nil)
)

// New connects to the engine (negotiating the API version), subscribes to
// its events for the executor's containers and returns an Executor.
func New(ctx context.Context, cfg Config) (*Executor, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &Executor{cfg: cfg, cli: cfg.Client, log: cfg.Logger, containers: map[string]*task{}, hostKill: unix.Kill}
	if e.cli == nil {
		if e.cli, err = client.New(client.FromEnv); err != nil {
			return nil, fmt.Errorf("docker client: %w", err)
		}
		e.ownClient = true
	}
	if _, err := e.cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		e.closeClient()
		return nil, fmt.Errorf("docker engine at %s: %w", e.cli.DaemonHost(), err)
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	if err := e.startEvents(); err != nil {
		e.cancel()
		e.closeClient()
		return nil, err
	}
	return e, nil
}

// Close stops following the tasks and the engine's events, and waits for the
// executor's goroutines. Containers keep running; a new Executor with the
// same Instance can Recover them.
func (e *Executor) Close() error {
	e.cancel()
	e.wg.Wait()
	return e.closeClient()
}

func (e *Executor) closeClient() error {
	if e.ownClient {
		return e.cli.Close()
	}
	return nil
}

// Instance returns Config.Instance, filled in.
func (e *Executor) Instance() string { return e.cfg.Instance }

func (e *Executor) goroutine(f func()) {
	e.wg.Go(f)
}

// get returns the task with the given ID.
func (e *Executor) get(id string) (*task, error) { return e.tasks.Get(id) }

// Wait returns a channel that receives the task's exit once and then closes.
// It closes without a value if ctx ends first.
func (e *Executor) Wait(ctx context.Context, id string) (<-chan *executor.Exit, error) {
	t, err := e.get(id)
	if err != nil {
		return nil, err
	}
	return executor.ExitChan(ctx, t.done, t.exited), nil
}

// Changes returns the states the task enters on its own: Requeued when its
// restart policy restarts the container (from its exit until it runs
// again), then Running, each with the restarts so far. The channel is
// closed once the task has ended, or ctx or the executor ends.
func (e *Executor) Changes(ctx context.Context, id string) (<-chan executor.Status, error) {
	t, err := e.get(id)
	if err != nil {
		return nil, err
	}
	ch := make(chan executor.Status)
	e.goroutine(func() {
		defer close(ch)
		for sent := 0; ; {
			t.mu.Lock()
			pending, ended, changed := t.changes[sent:], t.exit != nil, t.changed
			t.mu.Unlock()
			for _, st := range pending {
				select {
				case ch <- st:
					sent++
				case <-ctx.Done():
					return
				case <-e.ctx.Done():
					return
				}
			}
			if len(pending) > 0 {
				continue
			}
			if ended {
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			case <-e.ctx.Done():
				return
			}
		}
	})
	return ch, nil
}

// confirmAfter is how long Suspend and Resume wait for the engine's event
// before they ask the engine for the container's state instead.
const confirmAfter = 2 * time.Second

// Suspend pauses the container (the freezer cgroup) and returns once the
// engine reports it paused. Suspending a suspended task does nothing; an
// ended one gives an error wrapping executor.ErrNotRunning.
func (e *Executor) Suspend(ctx context.Context, id string) error {
	t, err := e.get(id)
	if err != nil {
		return err
	}
	if err := t.transition(ctx, job.Suspended); err != nil {
		return fmt.Errorf("suspend %s: %w", id, err)
	}
	return nil
}

// Resume unpauses the container and returns once the engine reports it
// running. Resuming a running task does nothing; an ended one gives an
// error wrapping executor.ErrNotRunning.
func (e *Executor) Resume(ctx context.Context, id string) error {
	t, err := e.get(id)
	if err != nil {
		return err
	}
	if err := t.transition(ctx, job.Running); err != nil {
		return fmt.Errorf("resume %s: %w", id, err)
	}
	return nil
}

// Stop stops the container as ContainerStop does: its stop signal (SIGTERM
// unless the image says otherwise), then SIGKILL after grace, rounded up to
// whole seconds. A paused container is killed after grace, as it cannot
// handle the signal. Stop returns once the engine reports the signal sent
// (its kill event) or the container ended. An ended task gives an error
// wrapping executor.ErrNotRunning.
func (e *Executor) Stop(ctx context.Context, id string, grace time.Duration) error {
	return e.StopSignal(ctx, id, "", grace)
}

// StopSignal is Stop that has the engine send sig first ("": the image's
// stop signal, SIGTERM unless it says otherwise).
func (e *Executor) StopSignal(ctx context.Context, id, sig string, grace time.Duration) error {
	t, err := e.get(id)
	if err != nil {
		return err
	}
	if err := t.stop(ctx, sig, grace); err != nil {
		return fmt.Errorf("stop %s: %w", id, err)
	}
	return nil
}

// Inspect returns the task's state: Running or Suspended while it lives,
// then Done (exit status 0) or Failed, with its Exit.
func (e *Executor) Inspect(_ context.Context, id string) (*executor.Status, error) {
	t, err := e.get(id)
	if err != nil {
		return nil, err
	}
	return t.status(), nil
}

// Destroy removes the container of an ended task and forgets the task. A
// live task is refused with ErrStillRunning unless force is set; then the
// container is removed with force (killed) and Destroy waits until the task
// has ended.
func (e *Executor) Destroy(ctx context.Context, id string, force bool) error {
	t, err := e.get(id)
	if err != nil {
		return err
	}
	if t.exited() == nil && !force {
		return fmt.Errorf("destroy %s: %w", id, ErrStillRunning)
	}
	if t.exited() != nil {
		// The exit may have been delivered at the die event, before the
		// engine finished with the container: let it finish.
		select {
		case <-t.settled:
		case <-ctx.Done():
			return fmt.Errorf("destroy %s: waiting for the engine to stop the container: %w", id, ctx.Err())
		}
	}
	if t.keep && !force && t.exited() != nil {
		// Kept for inspection ("rm" false): renamed, which marks its end
		// as recorded, so that no later sweep follows or removes it.
		if _, err := e.cli.ContainerRename(ctx, t.containerID, client.ContainerRenameOptions{NewName: KeptPrefix + id}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("destroy %s: renaming the kept container %.12s: %w", id, t.containerID, err)
		}
		e.forget(t)
		return nil
	}
	_, err = e.cli.ContainerRemove(ctx, t.containerID, client.ContainerRemoveOptions{Force: force, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
		return fmt.Errorf("destroy %s: removing container %.12s: %w", id, t.containerID, err)
	}
	select {
	case <-t.done:
	case <-ctx.Done():
		return fmt.Errorf("destroy %s: waiting for the task to end: %w", id, ctx.Err())
	}
	if cerrdefs.IsConflict(err) {
		// Removal raced with a restart or the auto-remove: try once more.
		_, err = e.cli.ContainerRemove(ctx, t.containerID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
			return fmt.Errorf("destroy %s: removing container %.12s: %w", id, t.containerID, err)
		}
	}
	e.forget(t)
	return nil
}

// track registers t under its task and container IDs.
// track records a started task; its container first, so that its events
// find it.
func (e *Executor) track(t *task) {
	e.mu.Lock()
	e.containers[t.containerID] = t
	e.mu.Unlock()
	e.tasks.Put(t.id, t, false)
}

func (e *Executor) forget(t *task) {
	e.tasks.Delete(t.id, t)
	e.mu.Lock()
	if e.containers[t.containerID] == t {
		delete(e.containers, t.containerID)
	}
	e.mu.Unlock()
}

func (e *Executor) byContainer(id string) *task {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.containers[id]
}
