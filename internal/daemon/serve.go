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
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/datadir"
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
	// StopGrace is the time between SIGTERM and SIGKILL when stopping jobs.
	// Defaults to scheduler.StopGraceDefault.
	StopGrace time.Duration
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
}

func (c ServeConfig) withDefaults() (ServeConfig, error) {
	c.Slots = cmp.Or(c.Slots, runtime.NumCPU())
	c.Sync = cmp.Or(c.Sync, store.SyncDefault)
	c.Worker = cmp.Or(c.Worker, WorkerProcess)
	c.StopGrace = cmp.Or(c.StopGrace, scheduler.StopGraceDefault)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(c.WorkerCommand) == 0 {
		exe, err := os.Executable()
		if err != nil {
			return c, fmt.Errorf("finding berth's executable for the local worker: %w", err)
		}
		c.WorkerCommand = []string{exe, "worker", "--local"}
	}
	switch {
	case c.DataDir == "":
		return c, errors.New("serve: the data directory is required")
	case c.Slots < 1:
		return c, fmt.Errorf("serve: slots must be 1 or more, not %d", c.Slots)
	case c.Worker != WorkerProcess && c.Worker != WorkerInProcess && c.Worker != WorkerNone:
		return c, fmt.Errorf("serve: worker mode %q is not process, inprocess or none", c.Worker)
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
func (info natsInfo) connectConfig(name string, log *slog.Logger) dispatch.ConnectConfig {
	return dispatch.ConnectConfig{URLs: strings.Split(info.URL, ","), Token: info.Token,
		NKeySeedFile: info.NKeyFile, CredsFile: info.CredsFile, Name: name, Logger: log}
}

// Serve runs `berth serve` until ctx is done, then shuts down in order:
// API, local worker (its jobs stopped and reported), scheduler, NATS, store.
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

	conn, ns, info, err := startNATS(ctx, cfg, log)
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
	if err := dispatch.EnsureStreams(ctx, conn.JetStream()); err != nil {
		return err
	}
	pub := dispatch.NewPublisher(conn)
	// A full disk breaks the embedded server's work stream, and only the
	// server tells; an external NATS is its operators' (a replicated
	// stream moves its leader).
	if ns != nil {
		pub.Broken = ns.WorkStreamErr
	}
	checks := map[string]func(context.Context) error{"dispatch": pub.WorkStreamErr}
	sched, err := scheduler.New(scheduler.Config{
		Store:        st,
		Dispatcher:   dispatcher{pub, conn},
		DataDir:      dir,
		DefaultSlots: cfg.Slots,
		StopGrace:    cfg.StopGrace,
		Logger:       log.With("component", "scheduler"),
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
	if _, err := conn.SubscribeHeartbeats(subCtx, sched.HandleHeartbeat); err != nil {
		return err
	}
	sink := &outputSink{dir: dir, sched: sched}
	if _, err := conn.ServeOutput(subCtx, sink.handle); err != nil {
		return err
	}
	if err := sched.Start(ctx); err != nil {
		return err
	}
	defer sched.Stop()

	api, err := server.New(server.Config{DataDir: dir, Store: st, Scheduler: sched, Logger: log.With("component", "api"), Version: cfg.Version, ServerID: serverID, Checks: checks})
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	apiCtx, stopAPI := context.WithCancel(ctx)
	defer stopAPI()
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

	connect := info.connectConfig("berth-local-worker", log.With("component", "local-worker"))
	if ns != nil {
		connect = ns.InProcessConfig("berth-local-worker") // used by --worker inprocess only
	}
	local, err := startLocalWorker(ctx, cfg, connect, log.With("component", "local-worker"))
	if err != nil {
		stopAPI()
		wg.Wait()
		return err
	}
	if err := waitSocket(ctx, dir.Socket()); err == nil && cfg.Ready != nil {
		cfg.Ready()
	}
	log.Info("berth is serving", "socket", dir.Socket(), "tcp", cfg.Listen, "nats", info.URL, "slots", cfg.Slots, "worker", cfg.Worker)
	if cfg.NATSListen != "" {
		log.Info("workers on other hosts join with: berth worker --nats nats://THIS-HOST:" + strconv.Itoa(info.Port) + " --nats-token-file " + dir.NATSToken() + " (copied there)")
	}

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	log.Info("shutting down")
	stopAPI()
	wg.Wait()
	local.stop(cfg.StopGrace + 10*time.Second)
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
