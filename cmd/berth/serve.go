package main

import (
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/daemon"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
)

func init() { extraCommands = append(extraCommands, newCmdServe, newCmdWorker, newCmdLocalReaper) }

// newCmdLocalReaper is the hidden command berth serve runs its local worker
// under (see internal/daemon).
func newCmdLocalReaper(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:    daemon.ReaperSubcommand + " -- WORKER-ARGV...",
		Short:  "Run the local worker under a reaper of its orphaned jobs (started by berth serve)",
		Hidden: true,
		Args:   cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, log, err := setup(f, "info")
			if err != nil {
				return err
			}
			return daemon.RunReaper(dir, args, log.With("component", "reaper"))
		},
	}
}

func newCmdServe(f *cmdutil.Factory) *cobra.Command {
	var (
		cfg       daemon.ServeConfig
		worker    string
		logLevel  string
		nats      natsFlags
		retention = job.Duration(daemon.RetentionDefault)
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Start the berth server on its embedded defaults",
		Long: `Start the berth server: the job store (SQLite), the dispatcher (embedded
NATS with JetStream) and a local worker, all in $BERTH_HOME (default
~/.local/share/berth). The API listens on $BERTH_HOME/berth.sock; --listen
adds TCP, which requires the bearer token in $BERTH_HOME/token. Workers on
other hosts join with an identity of their own: berth workers add ID.

The local worker is a separate process: jobs survive a crash of the server
or of the worker and report their true exit status when it is back.
Stopping the server (Ctrl-C, SIGTERM) stops the server only: the worker
keeps its jobs running and reports them to the next server. With
--stop-jobs-on-exit it stops the worker and its jobs too.

While it loads its jobs at start the server answers "starting" (and
/v1/health says ready only once it has); clients wait for it.

Ended jobs, with their output and results, are removed in the background
once they have been ended for --retention (default 30 days; 0 keeps them
until berth rm).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, log, err := setup(f, logLevel)
			if err != nil {
				return err
			}
			if cfg.Sync != "full" && cfg.Sync != "user" && cfg.Sync != "normal" {
				return cmdutil.FlagErrorf("invalid argument %q for \"--sync\" flag: want full, user or normal", cfg.Sync)
			}
			if cfg.NATSURLs, err = nats.urls(); err != nil {
				return err
			}
			if len(cfg.NATSURLs) > 0 {
				if cfg.NATSToken, err = nats.token(); err != nil {
					return err
				}
				cfg.NATSNKeyFile, cfg.NATSCredsFile = nats.nkeyFile, nats.credsFile
			} else if nats.tokenFile != "" || nats.nkeyFile != "" || nats.credsFile != "" {
				return cmdutil.FlagErrorf("NATS credentials are for an external NATS (--nats): the embedded NATS gives each worker an identity of its own (berth workers add)")
			}
			if cfg.NATSListen != "" && len(cfg.NATSURLs) > 0 {
				return cmdutil.FlagErrorf("--nats-listen and --nats exclude each other: the first exposes the embedded NATS, the second replaces it")
			}
			cfg.DataDir = dir
			cfg.Retention = retention.Std()
			cfg.Worker = daemon.WorkerMode(worker)
			cfg.Version = f.Version
			cfg.Logger = log
			cfg.Ready = func() {
				if err := sdNotify("READY=1"); err != nil {
					log.Warn("cannot tell systemd that berth is ready", "err", err)
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			defer profile("")()
			return daemon.Serve(ctx, cfg)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&cfg.Listen, "listen", "", "also serve the API on TCP `HOST:PORT` (bearer token required)")
	fl.IntVar(&cfg.Slots, "slots", 0, "tasks run at once in the default pool and by the local worker (default: number of CPUs)")
	fl.StringVar(&cfg.Sync, "sync", "user", "store durability: full (fsync every commit), user (fsync what answers a user: submits, control, removal; state reported by workers survives process crashes, not power loss) or normal (no fsync)")
	fl.StringVar(&worker, "worker", string(daemon.WorkerProcess), "local worker: process (outlives a server crash), inprocess, or none")
	fl.BoolVar(&cfg.StopJobsOnExit, "stop-jobs-on-exit", false, "when the server stops, stop the local worker's jobs too (default: they keep running and report to the next server)")
	fl.DurationVar(&cfg.StopGrace, "stop-grace", 10*time.Second, "time between SIGTERM and SIGKILL when jobs are stopped")
	fl.DurationVar(&cfg.SessionIdle, "session-idle", 0, "how long the local worker's OpenJD sessions wait, entered, for more of their step (0: exit at once)")
	fl.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&logFormat, "log-format", "", "log format: text or json (default $BERTH_LOG_FORMAT, else text; the local worker follows)")
	fl.StringVar(&cfg.NATSListen, "nats-listen", "", "expose the embedded NATS on `HOST:PORT` for workers on other hosts (each enrolled with berth workers add)")
	fl.DurationVar(&cfg.Lease, "lease", dispatch.LeasePeriod, "how long a worker runs its tasks without an answered heartbeat; the server reruns them after the lease + "+dispatch.FenceGrace.String()+" + "+dispatch.LeaseMargin.String())
	nats.add(fl, "use an external NATS cluster (with JetStream) at `URL[,URL...]` instead of the embedded one")
	fl.IntVar(&cfg.NATSReplicas, "nats-replicas", 1, "copies of each stream on the external NATS cluster (`N`, 1 to 5, at most its size)")
	cmdutil.DurationVar(fl, &retention, "retention", "remove ended jobs and their files this long after they ended (`D`: 12h, 7d; 0 keeps them)")
	return cmd
}

func newCmdWorker(f *cmdutil.Factory) *cobra.Command {
	var (
		cfg      daemon.WorkerConfig
		logLevel string
		kafka    *kafkaWorkerOptions
		nats     natsFlags
	)
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run a worker (berth serve starts its local one itself)",
		Long: `Run a worker that joins a server's fleet through NATS, as the identity
that berth workers add made for it:

  berth workers add gpu1 --pool default -o gpu1.nk     # where the server runs
  berth worker --nats nats://SERVER:4222 --id gpu1 --nats-nkey gpu1.nk --slots 4

The server exposes its embedded NATS with berth serve --nats-listen, or both
use an external NATS cluster. A worker on another host keeps its task files
in --state-dir and streams the output to the server. SIGTERM drains: no new
work, running tasks get --drain-timeout to finish, then are stopped and,
when rerunnable, run again elsewhere.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if kafka.enabled() {
				return runKafkaWorker(cmd.Context(), f, kafka, logLevel)
			}
			dir, log, err := setup(f, logLevel)
			if err != nil {
				return err
			}
			if !cfg.Local {
				if cfg.NATSURLs, err = nats.urls(); err != nil {
					return err
				}
				if len(cfg.NATSURLs) == 0 {
					return cmdutil.FlagErrorf("berth worker needs --nats URL (or --local, for the server's own worker)")
				}
				if cfg.NATSToken, err = nats.token(); err != nil {
					return err
				}
				cfg.NATSNKeyFile, cfg.NATSCredsFile = nats.nkeyFile, nats.credsFile
				cfg.StateDir, cfg.DrainTimeout = kafka.stateDir, kafka.drainTimeout
			}
			cfg.DataDir = dir
			cfg.Version = f.Version
			cfg.Logger = log
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			defer profile(".worker")()
			return daemon.RunWorker(ctx, cfg)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&cfg.Local, "local", false, "be the local worker of the server in $BERTH_HOME")
	fl.IntVar(&cfg.Slots, "slots", 0, "tasks run at once (default: number of CPUs)")
	fl.DurationVar(&cfg.StopGrace, "stop-grace", 10*time.Second, "time between SIGTERM and SIGKILL when tasks are stopped")
	fl.DurationVar(&cfg.SessionIdle, "session-idle", 0, "how long OpenJD sessions wait, entered, for more of their step (0: exit at once)")
	fl.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fl.StringVar(&logFormat, "log-format", "", "log format: text or json (default $BERTH_LOG_FORMAT, else text)")
	nats.add(fl, "join the fleet of the server using NATS at `URL[,URL...]`")
	fl.StringVar(&cfg.Pool, "pool", "", "pool to take work from (default \"default\")")
	cmdutil.KVVar(fl, &cfg.Labels, "label", "worker label `KEY=VALUE` for jobs' --constraint (repeatable)")
	fl.StringVar(&cfg.Executor, "executor", "auto", "how to run tasks: auto (containers for jobs with an image), process or docker")
	fl.StringVar(&cfg.ID, "id", "", "worker ID (default: host name and a hash of --state-dir)")
	// --state-dir and --drain-timeout are shared with the Kafka worker.
	kafka = addKafkaWorkerFlags(fl)
	return cmd
}

// logFormat is the --log-format of serve and worker.
var logFormat string

// setup finds the data directory and makes the logger of a long-running
// command: text, or JSON lines with --log-format json ($BERTH_LOG_FORMAT,
// which the processes serve starts inherit).
func setup(f *cmdutil.Factory, logLevel string) (datadir.Dir, *slog.Logger, error) {
	dir, err := datadir.Default()
	if err != nil {
		return "", nil, err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return "", nil, cmdutil.FlagErrorf("invalid argument %q for \"--log-level\" flag: want debug, info, warn or error", logLevel)
	}
	format := logFormat
	if format == "" {
		format = os.Getenv("BERTH_LOG_FORMAT")
	}
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "", "text":
		return dir, slog.New(slog.NewTextHandler(f.IO.ErrOut, opts)), nil
	case "json":
		// Children (the local worker, its reaper) log alike.
		_ = os.Setenv("BERTH_LOG_FORMAT", "json")
		return dir, slog.New(slog.NewJSONHandler(f.IO.ErrOut, opts)), nil
	}
	return "", nil, cmdutil.FlagErrorf("invalid argument %q for \"--log-format\" flag: want text or json", format)
}

// profile writes a CPU profile to $BERTH_CPUPROFILE (plus suffix) until the
// returned func is called: for finding where a slow path spends its time.
func profile(suffix string) (stop func()) {
	p := os.Getenv("BERTH_CPUPROFILE")
	if p == "" {
		return func() {}
	}
	f, err := os.Create(p + suffix)
	if err != nil {
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
