package docker

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-run/berth/executor"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
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
)

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

// extension parses one extension value into the container spec.
type extension func(c *containerSpec, value string) error

// extensions maps every extension key the executor knows to its parser:
// the one place where templates become Docker settings.
var extensions = map[string]extension{
	"pull": func(c *containerSpec, v string) error {
		switch p := PullPolicy(v); p {
		case PullNever, PullMissing, PullAlways:
			c.Pull = p
			return nil
		}
		return fmt.Errorf("want never, missing or always, not %q", v)
	},
	"user": func(c *containerSpec, v string) error {
		if strings.TrimSpace(v) == "" {
			return errEmpty
		}
		c.Config.User = v
		return nil
	},
	"entrypoint": func(c *containerSpec, v string) error {
		// A JSON array gives the whole entrypoint; any other value is the
		// one program, as with docker run --entrypoint. "" clears the
		// image's entrypoint.
		if strings.HasPrefix(strings.TrimSpace(v), "[") {
			var ep []string
			if err := json.Unmarshal([]byte(v), &ep); err != nil {
				return fmt.Errorf("not a JSON array of strings: %w", err)
			}
			c.Config.Entrypoint = ep
			return nil
		}
		c.Config.Entrypoint = []string{v}
		return nil
	},
	"exposedPorts": func(c *containerSpec, v string) error {
		ports := network.PortSet{}
		for _, s := range splitList(v) {
			p, err := network.ParsePort(s)
			if err != nil {
				return err
			}
			if proto := p.Proto(); proto != "tcp" && proto != "udp" && proto != "sctp" {
				return fmt.Errorf("port %q: protocol %q is not tcp, udp or sctp", s, proto)
			}
			ports[p] = struct{}{}
		}
		if len(ports) == 0 {
			return errEmpty
		}
		c.Config.ExposedPorts = ports
		return nil
	},
	"net": func(c *containerSpec, v string) error {
		if strings.TrimSpace(v) == "" {
			return errEmpty
		}
		c.HostConfig.NetworkMode = container.NetworkMode(v)
		return nil
	},
	"privileged": boolField(func(c *containerSpec, b bool) { c.HostConfig.Privileged = b }),
	"read-only":  boolField(func(c *containerSpec, b bool) { c.HostConfig.ReadonlyRootfs = b }),
	"rm":         boolField(func(c *containerSpec, b bool) { c.HostConfig.AutoRemove = b }),
	"restart": func(c *containerSpec, v string) error {
		name, count, hasCount := strings.Cut(v, ":")
		p := container.RestartPolicy{Name: container.RestartPolicyMode(name)}
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil {
				return fmt.Errorf("bad retry count %q", count)
			}
			p.MaximumRetryCount = n
		}
		if err := container.ValidateRestartPolicy(p); err != nil {
			return err
		}
		c.HostConfig.RestartPolicy = p
		return nil
	},
	"ipc": func(c *containerSpec, v string) error {
		m := container.IpcMode(v)
		if v == "" || !m.Valid() {
			return fmt.Errorf("invalid IPC mode %q", v)
		}
		c.HostConfig.IpcMode = m
		return nil
	},
	"uts": func(c *containerSpec, v string) error {
		m := container.UTSMode(v)
		if v == "" || !m.Valid() {
			return fmt.Errorf("invalid UTS mode %q", v)
		}
		c.HostConfig.UTSMode = m
		return nil
	},
	"pid": func(c *containerSpec, v string) error {
		m := container.PidMode(v)
		if v == "" || !m.Valid() {
			return fmt.Errorf("invalid PID mode %q", v)
		}
		c.HostConfig.PidMode = m
		return nil
	},
	"gpus": func(c *containerSpec, v string) error {
		n := -1
		if v != "all" {
			var err error
			if n, err = strconv.Atoi(v); err != nil || n < 1 {
				return fmt.Errorf(`want "all" or a count of at least 1, not %q`, v)
			}
		}
		c.HostConfig.DeviceRequests = []container.DeviceRequest{{Count: n, Capabilities: [][]string{{"gpu"}}}}
		return nil
	},
	"shm-size": func(c *containerSpec, v string) error {
		n, err := units.RAMInBytes(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("want a positive size like 64m, not %q", v)
		}
		c.HostConfig.ShmSize = n
		return nil
	},
	"ulimit": func(c *containerSpec, v string) error {
		for _, s := range splitList(v) {
			u, err := units.ParseUlimit(s)
			if err != nil {
				return err
			}
			c.HostConfig.Ulimits = append(c.HostConfig.Ulimits, u)
		}
		if len(c.HostConfig.Ulimits) == 0 {
			return errEmpty
		}
		return nil
	},
	"cap-add":  listField(func(c *containerSpec, l []string) { c.HostConfig.CapAdd = l }),
	"cap-drop": listField(func(c *containerSpec, l []string) { c.HostConfig.CapDrop = l }),
	// An empty security-opt is allowed: it drops the default
	// no-new-privileges.
	"security-opt": func(c *containerSpec, v string) error {
		c.HostConfig.SecurityOpt = splitList(v)
		return nil
	},
	"tmpfs": func(c *containerSpec, v string) error {
		m := map[string]string{}
		for _, s := range splitList(v) {
			path, opts, _ := strings.Cut(s, ":")
			if !strings.HasPrefix(path, "/") {
				return fmt.Errorf("tmpfs path %q is not absolute", path)
			}
			m[path] = opts
		}
		if len(m) == 0 {
			return errEmpty
		}
		c.HostConfig.Tmpfs = m
		return nil
	},
	"dns": func(c *containerSpec, v string) error {
		for _, s := range splitList(v) {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return err
			}
			c.HostConfig.DNS = append(c.HostConfig.DNS, a)
		}
		if len(c.HostConfig.DNS) == 0 {
			return errEmpty
		}
		return nil
	},
	"add-host": func(c *containerSpec, v string) error {
		for _, s := range splitList(v) {
			host, ip, ok := strings.Cut(s, ":")
			if !ok || host == "" {
				return fmt.Errorf("want host:ip, not %q", s)
			}
			if _, err := netip.ParseAddr(ip); err != nil && ip != "host-gateway" {
				return fmt.Errorf("bad address in %q: %w", s, err)
			}
			c.HostConfig.ExtraHosts = append(c.HostConfig.ExtraHosts, host+":"+ip)
		}
		if len(c.HostConfig.ExtraHosts) == 0 {
			return errEmpty
		}
		return nil
	},
	"labels": func(c *containerSpec, v string) error {
		for _, s := range splitList(v) {
			k, val, ok := strings.Cut(s, "=")
			if !ok || k == "" {
				return fmt.Errorf("want key=value, not %q", s)
			}
			if strings.HasPrefix(k, "berth.") {
				return fmt.Errorf("label %q: the berth. prefix is reserved", k)
			}
			c.Config.Labels[k] = val
		}
		return nil
	},
	"platform": func(c *containerSpec, v string) error {
		parts := strings.Split(v, "/")
		if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
			return fmt.Errorf("want os/arch[/variant], not %q", v)
		}
		p := &ocispec.Platform{OS: parts[0], Architecture: parts[1]}
		if len(parts) == 3 {
			p.Variant = parts[2]
		}
		c.Platform = p
		return nil
	},
	"hostname": func(c *containerSpec, v string) error {
		if strings.TrimSpace(v) == "" {
			return errEmpty
		}
		c.Config.Hostname = v
		return nil
	},
	"memory": func(c *containerSpec, v string) error {
		n, err := units.RAMInBytes(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("want a positive size like 512m, not %q", v)
		}
		c.HostConfig.Memory = n
		return nil
	},
	"memory-swap": func(c *containerSpec, v string) error {
		if v == "-1" {
			c.HostConfig.MemorySwap = -1
			return nil
		}
		n, err := units.RAMInBytes(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("want a positive size like 1g or -1, not %q", v)
		}
		c.HostConfig.MemorySwap = n
		return nil
	},
	"cpus": func(c *containerSpec, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f <= 1e6) {
			return fmt.Errorf("want a positive number like 1.5, not %q", v)
		}
		c.HostConfig.NanoCPUs = int64(math.Round(f * 1e9))
		return nil
	},
	"cpu-shares": func(c *containerSpec, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 2 {
			return fmt.Errorf("want an integer of at least 2, not %q", v)
		}
		c.HostConfig.CPUShares = n
		return nil
	},
	"pids": func(c *containerSpec, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || (n < 1 && n != -1) {
			return fmt.Errorf("want a positive integer or -1, not %q", v)
		}
		c.HostConfig.PidsLimit = &n
		return nil
	},
}

var errEmpty = fmt.Errorf("empty value")

func boolField(set func(*containerSpec, bool)) extension {
	return func(c *containerSpec, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf(`want "true" or "false", not %q`, v)
		}
		set(c, b)
		return nil
	}
}

func listField(set func(*containerSpec, []string)) extension {
	return func(c *containerSpec, v string) error {
		l := splitList(v)
		if len(l) == 0 {
			return errEmpty
		}
		set(c, l)
		return nil
	}
}

// splitList splits a comma-separated value, dropping blanks.
func splitList(v string) []string {
	var l []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			l = append(l, s)
		}
	}
	return l
}

// Extensions returns the extension keys the executor understands, sorted.
func Extensions() []string { return slices.Sorted(maps.Keys(extensions)) }

// buildContainer maps a task to a container: the command and arguments to
// Cmd, the template's image and workdir to Image and WorkingDir, s.Env to
// Env, and every extension through the extensions table. The defaults give
// no privilege: not privileged, the engine's default capabilities, and the
// no-new-privileges security option unless the template sets security-opt.
// Errors wrap executor.ErrStartFailed and name the extension.
func buildContainer(s *executor.Spec, cfg *Config) (*containerSpec, error) {
	tpl := &s.Template
	if tpl.Image == "" {
		return nil, fmt.Errorf("%w: the template names no image", executor.ErrStartFailed)
	}
	c := &containerSpec{
		Config: &container.Config{
			Image:      tpl.Image,
			Env:        slices.Clone(s.Env),
			WorkingDir: tpl.WorkDir,
			Labels: map[string]string{
				LabelTask:     s.ID,
				LabelExecutor: cfg.Instance,
				LabelStdout:   s.Stdout,
				LabelStderr:   s.Stderr,
			},
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
	for _, k := range slices.Sorted(maps.Keys(tpl.Extensions)) {
		parse, ok := extensions[k]
		if !ok {
			return nil, fmt.Errorf("%w: extension %q: unknown to the docker executor (known: %s)",
				executor.ErrStartFailed, k, strings.Join(Extensions(), ", "))
		}
		if err := parse(c, tpl.Extensions[k]); err != nil {
			return nil, fmt.Errorf("%w: extension %q: %w", executor.ErrStartFailed, k, err)
		}
	}
	return c, nil
}
