package daemon

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/executor/docker"
	"github.com/berth-run/berth/executor/mux"
	"github.com/berth-run/berth/executor/process"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/worker"
)

// LocalWorkerID is the ID of the server's local worker. It is the same
// across restarts so that a restarted worker's report of the tasks it lost
// matches what the server recorded.
const LocalWorkerID = "local"

// WorkerConfig configures RunWorker.
type WorkerConfig struct {
	// DataDir is the server's data directory, for a local worker.
	DataDir datadir.Dir
	// Local makes this the server's local worker: it reads how to reach NATS
	// from the data directory and takes the worker lock.
	Local bool
	// Conn, when set, is used instead of connecting.
	Conn *dispatch.Conn
	// Pool is the pool to work for. Defaults to job.PoolDefault.
	Pool string
	// Slots bounds the tasks run at once. Defaults to the number of CPUs.
	Slots int
	// StopGrace is the time between SIGTERM and SIGKILL. Defaults to 10s.
	StopGrace time.Duration
	Logger    *slog.Logger
	Version   string

	// The rest configures a remote worker (Local false), one that reaches
	// the server only through NATS.

	// NATSURLs are the NATS servers. Required for a remote worker.
	NATSURLs []string
	// NATSToken, NATSNKeyFile and NATSCredsFile authenticate with NATS; one
	// is required unless NATS is on loopback.
	NATSToken     string
	NATSNKeyFile  string
	NATSCredsFile string
	// ID names the worker. Defaults to the host name and a hash of StateDir,
	// stable across restarts so the worker's report of lost tasks matches.
	ID string
	// Labels are matched against jobs' constraints.
	Labels map[string]string
	// Executor is "process", "docker" or "auto" (containers for jobs with
	// an image, processes for the rest). Defaults to "auto".
	Executor string
	// StateDir holds the worker's task files. Defaults to the data
	// directory's remote-worker directory.
	StateDir string
	// DrainTimeout is how long a stopping worker lets running tasks finish
	// before it stops them. Defaults to 0.
	DrainTimeout time.Duration
	// SessionIdle is worker.Config.SessionIdle.
	SessionIdle time.Duration
}

// RunWorker runs a worker until ctx is done, then stops its tasks and
// returns once their ends are reported.
func RunWorker(ctx context.Context, cfg WorkerConfig) error {
	cfg.Pool = cmp.Or(cfg.Pool, job.PoolDefault)
	cfg.Slots = cmp.Or(cfg.Slots, runtime.NumCPU())
	cfg.StopGrace = cmp.Or(cfg.StopGrace, 10*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.Local {
		return runRemoteWorker(ctx, cfg)
	}
	dir := cfg.DataDir
	fence, err := workerFence(cfg, filepath.Join(dir.Worker(), "fence"), LocalInstance(dir))
	if err != nil {
		return err
	}
	if fence != nil {
		fence.serverLock = dir.ServerLock()
	}
	if cfg.Conn == nil {
		lock, err := takeWorkerLock(dir)
		if err != nil {
			return err
		}
		defer lock.Close()
		if err := os.WriteFile(dir.WorkerPID(), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
			return err
		}
		var info natsInfo
		b, err := os.ReadFile(dir.NATSInfo())
		if err == nil {
			err = json.Unmarshal(b, &info)
		}
		if err != nil {
			return fmt.Errorf("reading how to reach the server's NATS from %s: %w", dir.NATSInfo(), err)
		}
		conn, err := dispatch.Connect(ctx, info.connectConfig("berth-local-worker", LocalWorkerID, cfg.Logger))
		if err != nil {
			return fmt.Errorf("connecting to %s: %w", info.URL, err)
		}
		defer conn.Close()
		cfg.Conn = conn
	}
	host, _ := os.Hostname()
	w, err := worker.New(worker.Config{
		ID:            LocalWorkerID,
		Host:          host,
		SessionMarker: sessionMarker(filepath.Join(dir.Worker(), "fence")),
		Pool:          cfg.Pool,
		Slots:         cfg.Slots,
		Executor:      localExecutor(dir, cfg.Logger),
		Conn:          cfg.Conn,
		Logger:        cfg.Logger,
		Version:       cfg.Version,
		StopGrace:     cfg.StopGrace,
		SessionIdle:   cfg.SessionIdle,
		Fence:         fence.fence(),
		TaskEnv:       fence.taskEnv(),
		// The server and its local worker share a host: when no server
		// holds the lock, none can give the worker's tasks away, and the
		// jobs ride out a server that is down for any time.
		NoServer: func() bool {
			held, err := lockHeld(dir.ServerLock())
			return err == nil && !held
		},
	})
	if err != nil {
		return err
	}
	err = w.Run(ctx)
	if err == nil {
		fence.Close()
	}
	return err
}

// workerFence returns the watchdog of a worker process; nil for a worker
// run inside another program (cfg.Conn set: the server's in-process worker,
// tests), whose executable is not berth's.
func workerFence(cfg WorkerConfig, dir, instance string) (*watchdogFence, error) {
	if cfg.Conn != nil {
		return nil, nil
	}
	return newWatchdogFence(dir, instance, cfg.Logger)
}

// takeWorkerLock adopts the lock the server handed down as fd 3, or takes it.
func takeWorkerLock(dir datadir.Dir) (*os.File, error) {
	if fd, err := strconv.Atoi(os.Getenv("BERTH_WORKER_LOCK_FD")); err == nil && fd > 2 {
		os.Unsetenv("BERTH_WORKER_LOCK_FD")
		// Not to be inherited by jobs: they would hold the lock after the
		// worker died, and the server would not start another.
		syscall.CloseOnExec(fd)
		return os.NewFile(uintptr(fd), dir.WorkerLock()), nil
	}
	f, err := lockFile(dir.WorkerLock(), false)
	if err != nil {
		return nil, fmt.Errorf("a local worker is already running for %s", dir)
	}
	return f, nil
}

// localExecutor runs process tasks and, once the first container task comes
// and the engine answers, container tasks. Its containers are labelled with
// an instance name derived from the data directory, so that servers sharing
// one engine never clean up each other's containers.
func localExecutor(dir datadir.Dir, log *slog.Logger) *mux.Executor {
	proc := process.New(process.Config{StateDir: dir.WorkerTasks(), ExitNotes: dir.WorkerExits(), Logger: log})
	return mux.New(proc, dockerEngine(LocalInstance(dir), log))
}

// dockerEngine returns how to connect to the Docker engine, for the
// containers of the worker instance.
func dockerEngine(instance string, log *slog.Logger) func(context.Context) (executor.Executor, error) {
	return func(ctx context.Context) (executor.Executor, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return docker.New(ctx, docker.Config{Instance: instance, Logger: log})
	}
}

// LocalInstance is the berth.executor label of the local worker's
// containers for the data directory dir.
func LocalInstance(dir datadir.Dir) string {
	sum := sha256.Sum256([]byte(dir))
	return LocalWorkerID + "-" + hex.EncodeToString(sum[:6])
}

// runRemoteWorker runs a worker that shares nothing with the server but
// NATS: it keeps task files in its state directory and streams output.
// Its process tasks die with it (the server runs them again elsewhere when
// rerunnable); its containers are re-attached when it restarts.
func runRemoteWorker(ctx context.Context, cfg WorkerConfig) error {
	if len(cfg.NATSURLs) == 0 {
		return errors.New("worker: --nats URL is required (or --local)")
	}
	info := natsInfo{URL: strings.Join(cfg.NATSURLs, ","), Token: cfg.NATSToken, NKeyFile: cfg.NATSNKeyFile, CredsFile: cfg.NATSCredsFile}
	if err := checkNATSAuth(cfg.NATSURLs, info); err != nil {
		return err
	}
	stateDir := cmp.Or(cfg.StateDir, cfg.DataDir.RemoteWorker())
	if err := os.MkdirAll(filepath.Join(stateDir, "tasks"), 0o700); err != nil {
		return fmt.Errorf("creating the worker's state directory: %w", err)
	}
	lock, err := lockFile(filepath.Join(stateDir, "worker.lock"), false)
	if err != nil {
		return fmt.Errorf("another worker uses the state directory %s", stateDir)
	}
	defer lock.Close()
	host, _ := os.Hostname()
	if cfg.ID == "" {
		sum := sha256.Sum256([]byte(stateDir))
		h := dispatch.SanitizeWorkerID(cmp.Or(host, "worker"))
		cfg.ID = h[:min(len(h), 57)] + "-" + hex.EncodeToString(sum[:3])
	}
	exec, err := remoteExecutor(cfg.Executor, cfg.ID, stateDir, cfg.Logger)
	if err != nil {
		return err
	}
	conn := cfg.Conn
	if conn == nil {
		if conn, err = dispatch.Connect(ctx, info.connectConfig("berth-worker-"+cfg.ID, cfg.ID, cfg.Logger)); err != nil {
			if errors.Is(err, nats.ErrAuthorization) {
				return fmt.Errorf("%w\nA worker joins as an identity of its own: run `berth workers add %s` where the server runs, then pass --id %s --nats-nkey %s.nk", err, cfg.ID, cfg.ID, cfg.ID)
			}
			return err
		}
		defer conn.Close()
	}
	tasks := filepath.Join(stateDir, "tasks")
	fence, err := workerFence(cfg, filepath.Join(stateDir, "fence"), cfg.ID)
	if err != nil {
		return err
	}
	w, err := worker.New(worker.Config{
		Fence:         fence.fence(),
		TaskEnv:       fence.taskEnv(),
		SessionMarker: sessionMarker(filepath.Join(stateDir, "fence")),
		ID:            cfg.ID,
		Host:          host,
		Pool:          cfg.Pool,
		Slots:         cfg.Slots,
		Labels:        cfg.Labels,
		Executor:      exec,
		Conn:          conn,
		Logger:        cfg.Logger,
		Version:       cfg.Version,
		StopGrace:     cfg.StopGrace,
		DrainTimeout:  cfg.DrainTimeout,
		SessionIdle:   cfg.SessionIdle,
		TaskDir: func(k dispatch.TaskKey) string {
			return filepath.Join(tasks, fmt.Sprintf("%d.%d.%d", k.Job, k.Index, k.Attempt))
		},
	})
	if err != nil {
		return err
	}
	err = w.Run(ctx)
	if err == nil {
		fence.Close()
	}
	return err
}

// remoteExecutor makes the executor a remote worker asked for.
func remoteExecutor(kind, id, stateDir string, log *slog.Logger) (executor.Executor, error) {
	proc := func() executor.Executor {
		return process.New(process.Config{StateDir: filepath.Join(stateDir, "process"), DieWithParent: true, Logger: log})
	}
	engine := dockerEngine(id, log)
	switch cmp.Or(kind, "auto") {
	case "auto":
		return mux.New(proc(), engine), nil
	case "process":
		return proc(), nil
	case "docker":
		return engine(context.Background())
	}
	return nil, fmt.Errorf("worker: --executor %q: want auto, process or docker", kind)
}
