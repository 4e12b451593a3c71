package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/pflag"

	"github.com/berth-run/berth/internal/cli/cmdutil"
	kafkaworker "github.com/berth-run/berth/worker/kafka"
)

// Environment variables of the Kafka worker, named as dotnet-scripts-worker
// names them.
const (
	envKafkaBrokers   = "WORKER_KAFKA_BROKER_URL"
	envJobFilesDir    = "WORKER_JOB_FILES_HOST_DIR"
	envResourceLimits = "WORKER_ENABLE_RESOURCE_LIMITS"
	envDockerHost     = "WORKER_DOCKER_HOST"
	envDockerCertPath = "WORKER_DOCKER_CERT_PATH"
)

// workerEnvRefused are the original's variables berth cannot honour, and
// why; the worker refuses to start with any of them set.
var workerEnvRefused = map[string]string{
	"WORKER_REGISTRY_USER":     "berth does not log in to registries: pull the sandbox image beforehand (or use a registry that needs no login) and unset the WORKER_REGISTRY_* variables",
	"WORKER_REGISTRY_PASSWORD": "berth does not log in to registries: pull the sandbox image beforehand (or use a registry that needs no login) and unset the WORKER_REGISTRY_* variables",
	"WORKER_REGISTRY_EMAIL":    "berth does not log in to registries: pull the sandbox image beforehand (or use a registry that needs no login) and unset the WORKER_REGISTRY_* variables",
}

// workerSettingPrefixes are the prefixes of the names Spring Boot binds to
// the original's settings (worker.sandbox.max-containers is
// WORKER_SANDBOX_MAXCONTAINERS): berth takes those settings from the
// sandbox config and its flags, so it refuses these variables.
var workerSettingPrefixes = []string{"WORKER_SANDBOX_", "WORKER_DOCKERCLIENT_", "WORKER_KAFKA_"}

// checkWorkerEnv looks at the WORKER_* variables of environ besides those
// berth honours: the original's settings it cannot honour are an error
// naming each; any other WORKER_* variable gets a warning.
func checkWorkerEnv(environ []string) (warnings []string, err error) {
	honoured := map[string]bool{envKafkaBrokers: true, envJobFilesDir: true, envResourceLimits: true,
		envDockerHost: true, envDockerCertPath: true}
	var errs []error
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "WORKER_") || honoured[name] {
			continue
		}
		if why, ok := workerEnvRefused[name]; ok {
			errs = append(errs, fmt.Errorf("%s: %s", name, why))
			continue
		}
		if slices.ContainsFunc(workerSettingPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			errs = append(errs, fmt.Errorf("%s: a dotnet-scripts-worker setting berth does not read from the environment; "+
				"set it in the sandbox config or with a flag (docs/kafka.md), and unset the variable", name))
			continue
		}
		warnings = append(warnings, name+": not a variable berth or dotnet-scripts-worker reads; ignored")
	}
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	slices.Sort(warnings)
	return warnings, errors.Join(errs...)
}

// kafkaWorkerOptions are the flags of `berth worker --kafka`.
type kafkaWorkerOptions struct {
	fl              *pflag.FlagSet
	brokers         string
	sandbox         string
	sandboxConfig   string
	stateDir        string
	jobFilesDir     string
	dockerHost      string
	dockerCertPath  string
	resourceLimits  bool
	outputLimit     string
	drainTimeout    time.Duration
	sessionTimeout  time.Duration
	dedupWindow     time.Duration
	maxMessageBytes int
	capacityTimeout time.Duration
	// envWarnings are about WORKER_* variables neither worker reads, for
	// the log.
	envWarnings []string
}

// addKafkaWorkerFlags adds the Kafka worker's flags to the worker command.
func addKafkaWorkerFlags(fl *pflag.FlagSet) *kafkaWorkerOptions {
	o := &kafkaWorkerOptions{fl: fl}
	fl.StringVar(&o.brokers, "kafka", "", "be a Kafka script worker (a drop-in dotnet-scripts-worker) on these comma-separated `BROKERS` (env "+envKafkaBrokers+")")
	fl.StringVar(&o.sandbox, "sandbox", "", "Kafka worker: the sandbox to serve, from --sandbox-config (consumes pending-NAME in group workers.NAME)")
	fl.StringVar(&o.sandboxConfig, "sandbox-config", "", "Kafka worker: the sandboxes' config `FILE` (YAML or JSON; see docs/kafka.md)")
	// --state-dir and --drain-timeout serve the NATS worker too.
	fl.StringVar(&o.stateDir, "state-dir", "", "the worker's own state `DIR` (for the Kafka worker, default $BERTH_HOME/kafka/SANDBOX)")
	fl.StringVar(&o.jobFilesDir, "job-files-dir", "", "Kafka worker: where job directories are made; the Docker engine must see the same path (env "+envJobFilesDir+"; default STATE-DIR/jobs)")
	fl.StringVar(&o.dockerHost, "docker-host", "", "Kafka worker: the Docker engine (env "+envDockerHost+", else DOCKER_HOST)")
	fl.StringVar(&o.dockerCertPath, "docker-cert-path", "", "Kafka worker: reach the Docker engine over TLS with ca.pem, cert.pem and key.pem of `DIR` (env "+envDockerCertPath+")")
	fl.BoolVar(&o.resourceLimits, "resource-limits", true, "Kafka worker: apply the sandbox's memory, CPU and process limits (env "+envResourceLimits+")")
	fl.StringVar(&o.outputLimit, "output-limit", "", "Kafka worker: cap each of stdout and stderr at `SIZE` (default: the sandbox's outputLimit, else 1MiB)")
	fl.DurationVar(&o.drainTimeout, "drain-timeout", kafkaworker.DrainTimeoutDefault, "on SIGTERM, how long running tasks may finish before they are stopped and left for redelivery")
	fl.DurationVar(&o.sessionTimeout, "session-timeout", kafkaworker.SessionTimeoutDefault, "Kafka worker: consumer group session timeout")
	fl.DurationVar(&o.dedupWindow, "dedup-window", kafkaworker.DedupWindowDefault, "Kafka worker: how long a job's finished message is kept to answer a redelivery without running it again")
	fl.IntVar(&o.maxMessageBytes, "max-message-bytes", kafkaworker.MaxMessageBytesDefault, "Kafka worker: the largest finished message; outputs are cut to fit (at most the broker's message.max.bytes)")
	fl.DurationVar(&o.capacityTimeout, "capacity-timeout", kafkaworker.CapacityTimeoutDefault, "Kafka worker: how long a job waits for a container slot before it is answered REJECTED, as in dotnet-scripts-worker")
	return o
}

// enabled reports whether the worker command is to be a Kafka worker.
func (o *kafkaWorkerOptions) enabled() bool {
	return o.brokers != "" || o.sandbox != "" || o.sandboxConfig != ""
}

// kafkaConfig turns the flags, the environment and the sandbox config file
// into the worker's config. Flags win over the environment.
func (o *kafkaWorkerOptions) kafkaConfig(home string) (kafkaworker.Config, error) {
	var cfg kafkaworker.Config
	warnings, err := checkWorkerEnv(os.Environ())
	if err != nil {
		return cfg, err
	}
	o.envWarnings = warnings
	brokers := o.flagOrEnv("kafka", o.brokers, envKafkaBrokers)
	for b := range strings.SplitSeq(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			cfg.Brokers = append(cfg.Brokers, b)
		}
	}
	if len(cfg.Brokers) == 0 {
		return cfg, cmdutil.FlagErrorf("the Kafka worker needs brokers: --kafka HOST:PORT[,...] or %s", envKafkaBrokers)
	}
	if o.sandboxConfig == "" {
		return cfg, cmdutil.FlagErrorf("the Kafka worker needs --sandbox-config FILE (see docs/kafka.md)")
	}
	sb, err := kafkaworker.LoadSandbox(o.sandboxConfig, o.sandbox)
	if err != nil {
		return cfg, err
	}
	if o.outputLimit != "" {
		n, err := units.RAMInBytes(o.outputLimit)
		if err != nil || n < 1 {
			return cfg, cmdutil.FlagErrorf("invalid argument %q for \"--output-limit\" flag: want a size like 1MiB", o.outputLimit)
		}
		sb.OutputLimit = n
	}
	cfg.Sandbox = sb
	cfg.StateDir = o.stateDir
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(home, "kafka", sb.Name)
	}
	cfg.JobFilesDir = o.flagOrEnv("job-files-dir", o.jobFilesDir, envJobFilesDir)
	cfg.DockerHost = o.flagOrEnv("docker-host", o.dockerHost, envDockerHost)
	if _, err := kafkaworker.DockerHostURL(cfg.DockerHost); err != nil {
		src := "--docker-host"
		if !o.fl.Changed("docker-host") {
			src = envDockerHost
		}
		return cfg, cmdutil.FlagErrorf("%s: %v", src, err)
	}
	cfg.DockerCertPath = o.flagOrEnv("docker-cert-path", o.dockerCertPath, envDockerCertPath)
	limits := o.resourceLimits
	if v, ok := os.LookupEnv(envResourceLimits); ok && !o.fl.Changed("resource-limits") {
		if limits, err = strconv.ParseBool(strings.TrimSpace(v)); err != nil {
			return cfg, cmdutil.FlagErrorf("%s=%q: want true or false", envResourceLimits, v)
		}
	}
	cfg.NoResourceLimits = !limits
	cfg.DrainTimeout = o.drainTimeout
	cfg.SessionTimeout = o.sessionTimeout
	cfg.DedupWindow = o.dedupWindow
	cfg.MaxMessageBytes = o.maxMessageBytes
	if o.capacityTimeout <= 0 {
		return cfg, cmdutil.FlagErrorf("invalid argument %q for \"--capacity-timeout\" flag: want a positive duration", o.capacityTimeout)
	}
	cfg.CapacityTimeout = o.capacityTimeout
	return cfg, nil
}

// flagOrEnv returns the flag's value if it was set, else the variable's.
func (o *kafkaWorkerOptions) flagOrEnv(flag, value, env string) string {
	if o.fl.Changed(flag) {
		return value
	}
	return os.Getenv(env)
}

// runKafkaWorker runs `berth worker --kafka` until SIGINT or SIGTERM; a
// second signal stops the scripts still running at once.
func runKafkaWorker(ctx context.Context, f *cmdutil.Factory, o *kafkaWorkerOptions, logLevel string) error {
	home, log, err := setup(f, logLevel)
	if err != nil {
		return err
	}
	cfg, err := o.kafkaConfig(string(home))
	if err != nil {
		return err
	}
	cfg.Logger = log
	for _, w := range o.envWarnings {
		log.Warn(w)
	}
	w, err := kafkaworker.New(cfg)
	if err != nil {
		return fmt.Errorf("kafka worker: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case s := <-sigs:
			log.Info("stopping (a second signal stops the running scripts at once)", "signal", s.String())
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
			w.Abort()
		case <-done:
		}
	}()
	return w.Run(ctx)
}
