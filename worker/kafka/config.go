package kafka

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// Topics the worker produces to.
const (
	TopicRunning  = "running"
	TopicFinished = "finished"
)

// PendingTopic is the topic a sandbox's worker consumes.
func PendingTopic(sandbox string) string { return "pending-" + sandbox }

// Group is the consumer group of a sandbox's workers.
func Group(sandbox string) string { return "workers." + sandbox }

// Defaults of Config.
const (
	DrainTimeoutDefault    = 30 * time.Second
	SessionTimeoutDefault  = 45 * time.Second
	DedupWindowDefault     = 7 * 24 * time.Hour
	MaxMessageBytesDefault = 1_000_000
	CapacityTimeoutDefault = 30 * time.Second
)

// Config configures a Worker.
type Config struct {
	// Brokers are the Kafka brokers to bootstrap from (host:port).
	Brokers []string
	// Sandbox is the sandbox the worker runs scripts in (LoadSandbox).
	Sandbox *Sandbox
	// StateDir holds the worker's lock, its ID and its record of the jobs
	// it answered. Each worker needs its own; a restarted worker must get
	// the same one to clean up after its predecessor and answer its jobs
	// again.
	StateDir string
	// JobFilesDir is where each job's directory (script, config files,
	// output) is made; the Docker engine must see it under the same path.
	// Defaults to StateDir/jobs.
	JobFilesDir string
	// DockerHost is the Docker engine's address, in the forms of Docker
	// (unix:///var/run/docker.sock, tcp://host:2376) and of the original's
	// docker-java (unix:/var/run/docker.sock). Defaults to $DOCKER_HOST,
	// else the local socket.
	DockerHost string
	// DockerCertPath is a directory of ca.pem, cert.pem and key.pem: the
	// engine is reached over TLS with that client certificate, and its
	// certificate checked against ca.pem. Defaults to $DOCKER_CERT_PATH if
	// $DOCKER_TLS_VERIFY is set.
	DockerCertPath string
	// NoResourceLimits switches the sandbox's memory, CPU and process
	// limits off (as WORKER_ENABLE_RESOURCE_LIMITS=false does).
	NoResourceLimits bool
	// DrainTimeout is how long running scripts may go on after the
	// worker is told to stop; past it they are stopped and their jobs left
	// uncommitted, for redelivery. Defaults to DrainTimeoutDefault.
	DrainTimeout time.Duration
	// SessionTimeout is the consumer group session timeout: how soon the
	// group hands a dead worker's partitions to the others. Defaults to
	// SessionTimeoutDefault.
	SessionTimeout time.Duration
	// DedupWindow is how long the finished message of a job is kept, to
	// answer a redelivery of the job again instead of running it again.
	// Defaults to DedupWindowDefault.
	DedupWindow time.Duration
	// MaxMessageBytes bounds a finished message (value, key and framing);
	// outputs are cut to fit. It must not exceed the broker's
	// message.max.bytes (Kafka's default: 1048588). Defaults to
	// MaxMessageBytesDefault.
	MaxMessageBytes int
	// CapacityTimeout is how long a job fetched while every container slot
	// (Sandbox.MaxConcurrent) is taken waits for one; past it the job is
	// answered REJECTED, as the original does after its
	// container-operations-timeout-sec. Defaults to CapacityTimeoutDefault.
	CapacityTimeout time.Duration
	// Logger receives the worker's log. Defaults to discarding.
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with the defaults filled in.
func (c Config) WithDefaults() Config {
	if c.JobFilesDir == "" && c.StateDir != "" {
		c.JobFilesDir = filepath.Join(c.StateDir, "jobs")
	}
	c.DrainTimeout = cmp.Or(c.DrainTimeout, DrainTimeoutDefault)
	c.SessionTimeout = cmp.Or(c.SessionTimeout, SessionTimeoutDefault)
	c.DedupWindow = cmp.Or(c.DedupWindow, DedupWindowDefault)
	c.MaxMessageBytes = cmp.Or(c.MaxMessageBytes, MaxMessageBytesDefault)
	c.CapacityTimeout = cmp.Or(c.CapacityTimeout, CapacityTimeoutDefault)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
	return c
}

// minMessageBytes is the least MaxMessageBytes: room for a jobId of
// MaxJobIDBytes twice (key and value) and the rest of a message.
const minMessageBytes = 4 * MaxJobIDBytes

func (c *Config) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: none given"))
	}
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			errs = append(errs, errors.New("brokers: an empty address"))
		}
	}
	if c.Sandbox == nil {
		errs = append(errs, errors.New("sandbox: none given"))
	} else if err := c.Sandbox.validate(); err != nil {
		errs = append(errs, fmt.Errorf("sandbox %s: %w", c.Sandbox.Name, err))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("state directory: none given"))
	}
	if strings.ContainsAny(c.JobFilesDir, ":,") {
		errs = append(errs, fmt.Errorf("job files directory %q: may not hold ':' or ',' (Docker bind mount syntax)", c.JobFilesDir))
	}
	if _, err := DockerHostURL(c.DockerHost); err != nil {
		errs = append(errs, err)
	}
	if c.DockerCertPath != "" && !strings.HasPrefix(c.DockerHost, "tcp://") && !strings.HasPrefix(c.DockerHost, "https://") {
		errs = append(errs, fmt.Errorf("docker cert path %s: TLS needs a tcp:// docker host, not %q", c.DockerCertPath, c.DockerHost))
	}
	if c.DrainTimeout < 0 || c.SessionTimeout < 0 || c.DedupWindow < 0 || c.CapacityTimeout < 0 {
		errs = append(errs, errors.New("negative duration"))
	}
	if c.MaxMessageBytes < minMessageBytes {
		errs = append(errs, fmt.Errorf("max message bytes: %d is less than %d", c.MaxMessageBytes, minMessageBytes))
	}
	return errors.Join(errs...)
}

// DockerHostURL returns a Docker engine address as the Docker client takes
// it. Besides Docker's own forms (unix:///path, tcp://host:port, http://,
// https://) it takes docker-java's unix:/path, the original worker's
// default. Empty stays empty (the client's default).
func DockerHostURL(host string) (string, error) {
	if host == "" {
		return "", nil
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("docker host %q: %s; want unix:///path (or unix:/path) or tcp://host:port", host, why)
	}
	scheme, rest, ok := strings.Cut(host, ":")
	if !ok {
		return bad("no scheme")
	}
	switch scheme {
	case "unix":
		p := strings.TrimPrefix(rest, "//")
		if !path.IsAbs(p) {
			return bad("the socket's path is not absolute")
		}
		return "unix://" + p, nil
	case "tcp", "http", "https":
		hp, ok := strings.CutPrefix(rest, "//")
		if !ok || hp == "" || strings.HasPrefix(hp, "/") {
			return bad("no host")
		}
		return host, nil
	}
	return bad("unsupported scheme " + scheme)
}
