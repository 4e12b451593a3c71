package daemon

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/internal/metrics"
	"github.com/berth-run/berth/scheduler"
	"github.com/berth-run/berth/server"
	"github.com/berth-run/berth/store"
)

// WorkerMode says how `berth serve` runs its local worker.
type WorkerMode string

// The worker modes.
const (
	// WorkerProcess runs the local worker as a separate process that
	// outlives a crash of the server (the default).
	WorkerProcess WorkerMode = "process"
	// WorkerInProcess runs it inside the server: jobs die with the server.
	WorkerInProcess WorkerMode = "inprocess"
	// WorkerNone runs no local worker: remote workers do the work.
	WorkerNone WorkerMode = "none"
)

// ServeConfig configures Serve.
type ServeConfig struct {
	// DataDir is where everything is kept. Required.
	DataDir datadir.Dir
	// Listen, when set, adds a TCP listener (HOST:PORT) that requires the
	// bearer token in DataDir. Defaults to none: the unix socket only.
	Listen string
	// Slots bounds the tasks running at once in the default pool and the
	// local worker. Defaults to the number of CPUs.
	Slots int
	// Sync says which store commits are flushed to disk: "full", "user" or
	// "normal" (see store.Config). Defaults to "user".
	Sync string
	// Worker says how to run the local worker. Defaults to WorkerProcess.
	Worker WorkerMode
	// WorkerCommand is the argv that starts the local worker process; the
	// data directory is passed in $BERTH_HOME. Defaults to this executable
	// with "worker --local".
	WorkerCommand []string
	// ReaperCommand is the argv of the local worker's reaper, which starts
	// the worker's argv given after "--". Defaults to this executable with
	// ReaperSubcommand.
	ReaperCommand []string
	// StopJobsOnExit makes the end of Serve stop the local worker and its
	// jobs. Defaults to false: a worker process keeps its jobs running and
	// reports them to the next server (an in-process worker's jobs are
	// always stopped: they cannot outlive the server).
	StopJobsOnExit bool
	// StopGrace is the time between SIGTERM and SIGKILL when stopping jobs.
	// Defaults to scheduler.StopGraceDefault.
	StopGrace time.Duration
	// SessionIdle is the local worker's worker.Config.SessionIdle.
	SessionIdle time.Duration
	// Logger receives the logs. Defaults to discarding them.
	Logger *slog.Logger
	// Version is reported by the API.
	Version string
	// Ready, when set, is called once the API accepts requests.
	Ready func()
	// NATSListen, when set (HOST:PORT), makes the embedded NATS server
	// listen there, for workers on other hosts; it always requires the
	// token (NATSToken, else one made at first start and kept in the data
	// directory). Defaults to a free port on 127.0.0.1.
	NATSListen string
	// NATSURLs, when set, use an external NATS (cluster, with JetStream)
	// instead of the embedded server.
	NATSURLs []string
	// NATSToken, NATSNKeyFile and NATSCredsFile authenticate with NATS (see
	// dispatch.ConnectConfig). An external NATS that is not on loopback
	// needs one of them.
	NATSToken     string
	NATSNKeyFile  string
	NATSCredsFile string
	// Lease is how long a worker may run its tasks after its last answered
	// heartbeat; the server reruns them after Lease + dispatch.FenceGrace +
	// dispatch.LeaseMargin. Defaults to dispatch.LeasePeriod.
	Lease time.Duration
	// NATSReplicas is how many copies of each stream an external NATS
	// cluster keeps (at most its size). Defaults to 1.
	NATSReplicas int
	// Retention is how long ended jobs are kept, with their files, before
	// they are removed in the background. Defaults to 0: kept until
	// removed (berth serve's --retention defaults to RetentionDefault).
	Retention time.Duration
}

// RetentionDefault is how long berth serve keeps ended jobs unless told.
const RetentionDefault = 30 * 24 * time.Hour

func (c ServeConfig) withDefaults() (ServeConfig, error) {
	c.Slots = cmp.Or(c.Slots, runtime.NumCPU())
	c.Sync = cmp.Or(c.Sync, store.SyncDefault)
	c.Worker = cmp.Or(c.Worker, WorkerProcess)
	c.StopGrace = cmp.Or(c.StopGrace, scheduler.StopGraceDefault)
	c.Lease = cmp.Or(c.Lease, dispatch.LeasePeriod)
	c.NATSReplicas = cmp.Or(c.NATSReplicas, 1)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.WorkerCommand) == 0 || len(c.ReaperCommand) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("finding berth's executable for the local worker: %w", err)
		}
		if len(c.WorkerCommand) == 0 {
			c.WorkerCommand = []string{exe, "worker", "--local"}
		}
		if len(c.ReaperCommand) == 0 {
			c.ReaperCommand = []string{exe, ReaperSubcommand}
		}
	}
	switch {
	case c.DataDir == "":
		return c, errors.New("serve: the data directory is required")
	case c.Slots < 1:
		return c, fmt.Errorf("serve: slots must be 1 or more, not %d", c.Slots)
	case c.Retention < 0:
		return c, fmt.Errorf("serve: the retention must not be negative, not %s", c.Retention)
	case c.Lease < time.Second:
		return c, fmt.Errorf("serve: the lease must be 1s or more, not %s", c.Lease)
	case c.Worker != WorkerProcess && c.Worker != WorkerInProcess && c.Worker != WorkerNone:
		return c, fmt.Errorf("serve: worker mode %q is not process, inprocess or none", c.Worker)
	case c.NATSReplicas < 1 || c.NATSReplicas > 5:
		return c, fmt.Errorf("serve: NATS replicas must be 1 to 5 (JetStream's limit), not %d", c.NATSReplicas)
	case c.NATSReplicas > 1 && len(c.NATSURLs) == 0:
		return c, errors.New("serve: NATS replicas above 1 need an external NATS cluster (--nats); the embedded server is a single node")
	}
	return c, nil
}

// natsInfo is what nats.json holds: how the local worker reaches the
// embedded NATS server. The port and token are kept across restarts so a
// worker that outlived the server reconnects to its successor.
type natsInfo struct {
	URL       string `json:"url"`
	Port      int    `json:"port"`
	Token     string `json:"token"`
	NKeyFile  string `json:"nkey_file,omitempty"`
	CredsFile string `json:"creds_file,omitempty"`
}

// connectConfig is how a worker on this host connects with info.
func (info natsInfo) connectConfig(name, worker string, log *slog.Logger) dispatch.ConnectConfig {
	return dispatch.ConnectConfig{URLs: strings.Split(info.URL, ","), Token: info.Token,
		NKeySeedFile: info.NKeyFile, CredsFile: info.CredsFile, Name: name, Worker: worker, Logger: log}
}

// poolConsumers creates the work consumer of each pool a worker is heard
// of, once: workers may not create them.
type poolConsumers struct {
	js   jetstream.JetStream
	log  *slog.Logger
	mu   sync.Mutex
	done map[string]bool
}

func (p *poolConsumers) ensure(ctx context.Context, pool string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done[pool] {
		return
	}
	if err := dispatch.EnsureWorkConsumer(ctx, p.js, pool); err != nil {
		p.log.Warn("cannot create the work consumer of a pool", "pool", pool, "err", err)
		return
	}
	if p.done == nil {
		p.done = map[string]bool{}
	}
	p.done[pool] = true
}

// recreate makes again the consumers of every pool seen, after the work
// stream was made anew.
func (p *poolConsumers) recreate(ctx context.Context) {
	p.mu.Lock()
	pools := slices.Collect(maps.Keys(p.done))
	clear(p.done)
	p.mu.Unlock()
	for _, pool := range pools {
		p.ensure(ctx, pool)
	}
}

// Serve runs `berth serve` until ctx is done, then shuts down in order:
// API, local worker, scheduler, NATS, store. The local worker is left
// running with its jobs, as after a crash of the server, unless
// StopJobsOnExit is set (or it runs in process): then its jobs are stopped
// and reported first.
//
// The API listens before the scheduler has loaded the jobs: until it has,
// requests are answered "starting" (see server.Config.Ready).
func Serve(ctx context.Context, cfg ServeConfig) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	log := cfg.Logger
	dir := cfg.DataDir
	if os.Getenv("GOGC") == "" {
		// The scheduler keeps every unended task in memory; collecting at
		// half the live heap instead of all of it keeps a server with
		// 100,000 queued jobs well under 200 MB, for little CPU.
		debug.SetGCPercent(50)
	}
	loose, err := dir.Secure()
	for _, l := range loose {
		log.Warn("others could read or write a data file; restricted to its owner", "path", l.Path, "mode", fmt.Sprintf("%o", l.Was))
	}
	if err != nil {
		return fmt.Errorf("creating the data directory: %w", err)
	}
	lock, err := lockFile(dir.ServerLock(), false)
	if err != nil {
		return fmt.Errorf("another berth server is running on %s", dir)
	}
	defer lock.Close()

	st, err := store.Open(ctx, store.Config{Path: dir.DB(), Sync: cfg.Sync})
	if err != nil {
		return fmt.Errorf("opening the store: %w", err)
	}
	defer st.Close()
	serverID, err := ensureMeta(ctx, st, "server_id")
	if err != nil {
		return err
	}

	reg, err := newRegistry(dir, log)
	if err != nil {
		return err
	}
	conn, ns, info, err := startNATS(ctx, cfg, reg, log)
	if err != nil {
		return err
	}
	if ns != nil {
		defer ns.Shutdown()
	}
	defer conn.Close()
	if err := writeJSON(dir.NATSInfo(), info); err != nil {
		return err
	}
	streamOpts := []dispatch.StreamOption{dispatch.Replicas(cfg.NATSReplicas)}
	if err := dispatch.EnsureStreams(ctx, conn.JetStream(), streamOpts...); err != nil {
		return err
	}
	pools := &poolConsumers{js: conn.JetStream(), log: log}
	pub := dispatch.NewPublisher(conn)
	pub.Stream, pub.Repaired = streamOpts, pools.recreate
	// A full disk breaks the embedded server's work stream, and only the
	// server tells; an external NATS is its operators' (a replicated
	// stream moves its leader).
	if ns != nil {
		pub.Broken = ns.WorkStreamErr
	}
	// The metrics read the scheduler made just below.
	var sched *scheduler.Scheduler
	mets := metrics.New(metrics.Config{JetStream: conn.JetStream(),
		Pools:   func() []scheduler.PoolStats { return sched.Stats() },
		Workers: func() []dispatch.WorkerStatus { return sched.Workers() }})
	sched, err = scheduler.New(scheduler.Config{
		Store:         st,
		Dispatcher:    dispatcher{pub, conn},
		DataDir:       dir,
		DefaultSlots:  cfg.Slots,
		StopGrace:     cfg.StopGrace,
		Lease:         cfg.Lease,
		WorkerTimeout: cfg.Lease + dispatch.FenceGrace + dispatch.LeaseMargin,
		Logger:        log.With("component", "scheduler"),
		Observer:      mets,
		Retention:     cfg.Retention,
	})
	if err != nil {
		return err
	}
	// Workers' reports are served before the scheduler starts so that none
	// waits; the scheduler takes its lock, and loads first.
	subCtx, stopSubs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSubs()
	if _, err := conn.ServeClaims(subCtx, sched.HandleClaim); err != nil {
		return err
	}
	if _, err := conn.ServeEventBatches(subCtx, sched.HandleEvents); err != nil {
		return err
	}
	if _, err := conn.ServeOpenJD(subCtx, sched.HandleOpenJDFetch); err != nil {
		return err
	}
	if _, err := conn.ServeHeartbeats(subCtx, func(hb *dispatch.Heartbeat) dispatch.HeartbeatReply {
		if err := reg.checkPool(hb); err != nil {
			log.Warn("refused a heartbeat", "worker", hb.Worker, "err", err)
			return dispatch.HeartbeatReply{Error: err.Error()}
		}
		pools.ensure(subCtx, hb.Pool)
		return sched.HandleHeartbeat(hb)
	}); err != nil {
		return err
	}
	sink := &outputSink{dir: dir, sched: sched}
	if _, err := conn.ServeOutput(subCtx, sink.handle); err != nil {
		return err
	}
	ready := make(chan struct{})
	api, err := server.New(server.Config{DataDir: dir, Store: st, Scheduler: sched, Logger: log.With("component", "api"), Version: cfg.Version, ServerID: serverID, Enroller: reg, DispatchCheck: pub.WorkStreamErr, Metrics: mets.Handler(), Ready: ready, JobRemoved: removeKept(dir, log)})
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	apiCtx, stopAPI := context.WithCancel(ctx)
	defer func() {
		stopAPI()
		wg.Wait()
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := api.ServeUnix(apiCtx, dir.Socket()); err != nil {
			errc <- fmt.Errorf("serving %s: %w", dir.Socket(), err)
		}
	}()
	if cfg.Listen != "" {
		token, err := server.EnsureToken(dir)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := api.ServeTCP(apiCtx, cfg.Listen, token); err != nil {
				errc <- fmt.Errorf("serving %s: %w", cfg.Listen, err)
			}
		}()
	}

	// The API answers "starting" while the scheduler loads.
	if err := sched.Start(ctx); err != nil {
		return err
	}
	defer sched.Stop()
	close(ready)

	connect := info.connectConfig("berth-local-worker", LocalWorkerID, log.With("component", "local-worker"))
	if ns != nil {
		connect = ns.InProcessConfig("berth-local-worker") // used by --worker inprocess only
		connect.Worker = LocalWorkerID
	}
	local, err := startLocalWorker(ctx, cfg, connect, log.With("component", "local-worker"))
	if err != nil {
		return err
	}
	if err := waitSocket(ctx, dir.Socket()); err == nil && cfg.Ready != nil {
		cfg.Ready()
	}
	log.Info("berth is serving", "socket", dir.Socket(), "tcp", cfg.Listen, "nats", info.URL, "slots", cfg.Slots, "worker", cfg.Worker)
	if cfg.NATSListen != "" {
		log.Info("workers on other hosts enrol with `berth workers add ID`, then join with: berth worker --nats nats://THIS-HOST:" + strconv.Itoa(info.Port) + " --id ID --nats-nkey ID.nk")
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	log.Info("shutting down")
	stopAPI()
	wg.Wait()
	if cfg.Worker == WorkerProcess && !cfg.StopJobsOnExit {
		local.leave()
	} else {
		local.stop(cfg.StopGrace + 10*time.Second)
	}
	return runErr
}

// dispatcher joins the two halves of what the scheduler sends.
type dispatcher struct {
	*dispatch.Publisher
	*dispatch.Conn
}

func ensureMeta(ctx context.Context, st *store.Store, key string) (string, error) {
	v, ok, err := st.MetaGet(ctx, key)
	if err != nil || ok {
		return v, err
	}
	v = randomHex(8)
	return v, st.MetaSet(ctx, key, v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func readNATSInfo(dir datadir.Dir) natsInfo {
	var info natsInfo
	if b, err := os.ReadFile(dir.NATSInfo()); err == nil {
		_ = json.Unmarshal(b, &info) // a damaged file only loses the port and token
	}
	return info
}

// writeJSON writes v to path atomically, mode 0600.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
