package docker

import (
	"fmt"
	"maps"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Labels every container of the executor carries.
const (
	// LabelTask holds the task ID (executor.Spec.ID).
	LabelTask = "berth.task"
	// LabelExecutor holds Config.Instance, the owner of the container.
	LabelExecutor = "berth.executor"
	// LabelStdout and LabelStderr hold the output files, so that Recover
	// knows where to continue writing.
	LabelStdout = "berth.stdout"
	LabelStderr = "berth.stderr"
	// LabelTimes holds the output's timeline (executor.Spec.Times).
	LabelTimes = "berth.times"
	// LabelKeep ("true") keeps the container after its task ended (the
	// "rm" extension false): Destroy renames it KeptPrefix+task ID instead
	// of removing it, and sweeps leave it.
	LabelKeep = "berth.keep"
)

// KeptPrefix starts the name of a container kept after its task ended.
const KeptPrefix = "berth-kept-"

// PullPolicy says when Start pulls the image.
type PullPolicy string

// Pull policies, the values of the "pull" extension.
const (
	PullNever   PullPolicy = "never"   // use the local image only
	PullMissing PullPolicy = "missing" // pull if there is no local image (the default)
	PullAlways  PullPolicy = "always"  // pull before every start
)

// containerSpec is everything ContainerCreate and the image check need.
type containerSpec struct {
	Config     *container.Config
	HostConfig *container.HostConfig
	Platform   *ocispec.Platform
	Pull       PullPolicy
}

// buildContainer maps a task to a container: the command and arguments to
// Cmd, s.Env and s.WorkDir to Env and WorkingDir, and s.Container (see
// executor.ContainerOf) to the image, bind mounts and the other settings
// (see applySettings). The defaults give no privilege: not privileged, the
// engine's default capabilities, and the no-new-privileges security option
// unless the spec sets SecurityOpt. Errors wrap executor.ErrStartFailed and
// name the field.
func buildContainer(s *executor.Spec, cfg *Config) (*containerSpec, error) {
	cs := s.Container
	if cs == nil || cs.Image == "" {
		return nil, fmt.Errorf("%w: the template names no image", executor.ErrStartFailed)
	}
	labels := map[string]string{
		LabelTask:     s.ID,
		LabelExecutor: cfg.Instance,
		LabelStdout:   s.Stdout,
		LabelStderr:   s.Stderr,
	}
	if s.Times != "" {
		labels[LabelTimes] = s.Times
	}
	if cs.Keep {
		labels[LabelKeep] = "true"
	}
	if err := setCopyLabels(labels, s); err != nil {
		return nil, fmt.Errorf("%w: %w", executor.ErrStartFailed, err)
	}
	c := &containerSpec{
		Config: &container.Config{
			Image:      cs.Image,
			Env:        slices.Clone(s.Env),
			WorkingDir: s.WorkDir,
			Labels:     labels,
		},
		HostConfig: &container.HostConfig{
			SecurityOpt: []string{"no-new-privileges"},
			LogConfig:   container.LogConfig{Type: cfg.LogDriver, Config: maps.Clone(cfg.LogOptions)},
		},
		Pull: PullMissing,
	}
	if s.Command != "" {
		c.Config.Cmd = append([]string{s.Command}, s.Args...)
	} else if len(s.Args) > 0 {
		return nil, fmt.Errorf("%w: arguments without a command", executor.ErrStartFailed)
	}
	if s.WorkDir != "" && !path.IsAbs(s.WorkDir) {
		return nil, fmt.Errorf("%w: working directory %q is not an absolute path in the container", executor.ErrStartFailed, s.WorkDir)
	}
	for i, m := range cs.Mounts {
		if !strings.HasPrefix(m.Host, "/") || !strings.HasPrefix(m.Container, "/") {
			return nil, fmt.Errorf("%w: stage_in[%d]: want absolute paths, not %q and %q", executor.ErrStartFailed, i, m.Host, m.Container)
		}
		c.HostConfig.Mounts = append(c.HostConfig.Mounts, mount.Mount{
			Type: mount.TypeBind, Source: m.Host, Target: m.Container, ReadOnly: !m.RW,
		})
	}
	if err := applySettings(c, &cs.ContainerSettings); err != nil {
		return nil, fmt.Errorf("%w: %w", executor.ErrStartFailed, err)
	}
	return c, nil
}

// applySettings maps the typed settings onto the container (the table in
// docs/docker.md).
func applySettings(c *containerSpec, set *job.ContainerSettings) error {
	cfg, hc := c.Config, c.HostConfig
	if set.Pull != "" {
		c.Pull = PullPolicy(set.Pull)
	}
	cfg.User = set.User
	if set.EntrypointSet {
		cfg.Entrypoint = set.Entrypoint
		if len(cfg.Entrypoint) == 0 {
			cfg.Entrypoint = []string{""} // clears the image's, as docker run --entrypoint ""
		}
	}
	if len(set.ExposedPorts) > 0 {
		// Exposed and published, as docker run -p: a port without a host
		// port gets one the engine picks.
		cfg.ExposedPorts = network.PortSet{}
		hc.PortBindings = network.PortMap{}
		for _, p := range set.ExposedPorts {
			port, err := network.ParsePort(strconv.Itoa(int(p.Number)) + "/" + p.Proto)
			if err != nil {
				return fmt.Errorf("extension \"exposedPorts\": %w", err)
			}
			cfg.ExposedPorts[port] = struct{}{}
			b := network.PortBinding{}
			if p.HostIP != "" {
				if b.HostIP, err = netip.ParseAddr(p.HostIP); err != nil {
					return fmt.Errorf("extension \"exposedPorts\": %w", err)
				}
			}
			if p.HostPort != 0 {
				b.HostPort = strconv.Itoa(int(p.HostPort))
			}
			hc.PortBindings[port] = append(hc.PortBindings[port], b)
		}
	}
	hc.NetworkMode = container.NetworkMode(set.Network)
	hc.Privileged = set.Privileged
	hc.ReadonlyRootfs = set.ReadOnly
	hc.AutoRemove = set.AutoRemove
	if set.Restart.Name != "" {
		hc.RestartPolicy = container.RestartPolicy{Name: container.RestartPolicyMode(set.Restart.Name), MaximumRetryCount: set.Restart.MaxRetries}
	}
	hc.IpcMode = container.IpcMode(set.IPC)
	hc.UTSMode = container.UTSMode(set.UTS)
	hc.PidMode = container.PidMode(set.PID)
	if set.GPUs != 0 {
		hc.DeviceRequests = []container.DeviceRequest{{Count: set.GPUs, Capabilities: [][]string{{"gpu"}}}}
	}
	hc.ShmSize = set.ShmSize
	for _, u := range set.Ulimits {
		hc.Ulimits = append(hc.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	hc.CapAdd, hc.CapDrop = set.CapAdd, set.CapDrop
	if set.SecurityOptSet {
		hc.SecurityOpt = set.SecurityOpt
	}
	hc.Tmpfs = set.Tmpfs
	hc.DNS = set.DNS
	hc.ExtraHosts = set.ExtraHosts
	for k, v := range set.Labels {
		cfg.Labels[k] = v
	}
	if p := set.Platform; p != nil {
		c.Platform = &ocispec.Platform{OS: p.OS, Architecture: p.Arch, Variant: p.Variant}
	}
	cfg.Hostname = set.Hostname
	hc.Memory, hc.MemorySwap = set.Memory, set.MemorySwap
	hc.MemoryReservation = set.MemoryReservation
	hc.NanoCPUs, hc.CPUShares = set.NanoCPUs, set.CPUShares
	hc.BlkioWeight = set.BlkioWeight
	hc.PidsLimit = set.PidsLimit
	return nil
}
