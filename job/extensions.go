package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
)

// Container extensions
//
// A container job's Template.Extensions are the settings of its container
// beyond the template's own fields. This file is the one place that reads
// them: Spec.Validate checks them (so the CLI, the server and the scheduler
// refuse a bad value before anything runs), and executor.ContainerOf puts
// the parsed ContainerSettings in the typed container spec the Docker
// executor maps onto the engine's configuration (docs/docker.md has the
// table). Only the standard library is used, so
// that every part of berth can check a template without the Docker client.

// ContainerSettings are a template's container extensions, parsed. Each
// field says which extension sets it; the zero value leaves the engine's
// default.
type ContainerSettings struct {
	Pull string // "pull": never, missing or always; "" means missing
	User string // "user"
	// Entrypoint ("entrypoint") replaces the image's entrypoint when
	// EntrypointSet; an empty one clears it.
	Entrypoint    []string
	EntrypointSet bool
	ExposedPorts  []Port // "exposedPorts"
	Network       string // "net"
	Privileged    bool   // "privileged"
	ReadOnly      bool   // "read-only"
	AutoRemove    bool   // "rm"
	// Keep ("rm" false) keeps the container after the task ends, for
	// inspection, until the job is removed; the default removes it.
	Keep    bool
	Restart RestartPolicy
	IPC     string // "ipc"
	UTS     string // "uts"
	PID     string // "pid"
	// GPUs ("gpus") is the number of GPUs asked for, -1 for all; 0: none.
	GPUs    int
	ShmSize int64    // "shm-size", bytes
	Ulimits []Ulimit // "ulimit"
	CapAdd  []string // "cap-add"
	CapDrop []string // "cap-drop"
	// SecurityOpt ("security-opt") replaces the default security options
	// when SecurityOptSet, even with an empty list.
	SecurityOpt    []string
	SecurityOptSet bool
	Tmpfs          map[string]string // "tmpfs": mount path → options
	DNS            []netip.Addr      // "dns"
	ExtraHosts     []string          // "add-host": "host:ip"
	Labels         map[string]string // "labels"
	Platform       *Platform         // "platform"
	Hostname       string            // "hostname"
	Memory         int64             // "memory", bytes
	MemorySwap     int64             // "memory-swap", bytes; -1: unlimited
	// MemoryReservation ("memory-reservation", bytes) is the soft limit
	// the engine reclaims down to under memory pressure.
	MemoryReservation int64
	NanoCPUs          int64  // "cpus", in billionths of a CPU
	CPUShares         int64  // "cpu-shares"
	BlkioWeight       uint16 // "blkio-weight", 10 to 1000
	PidsLimit         *int64 // "pids"; -1: unlimited
}

// Port is a container port of the "exposedPorts" extension, exposed and
// published as docker run -p does: on HostPort of HostIP (0: a port the
// engine picks; "": every address).
type Port struct {
	Number   uint16
	Proto    string // tcp, udp or sctp
	HostIP   string
	HostPort uint16
}

// RestartPolicy is the "restart" extension: Name is no, always,
// unless-stopped or on-failure (MaxRetries only with on-failure, 0: no
// bound); empty means no.
type RestartPolicy struct {
	Name       string
	MaxRetries int
}

// Restarts reports whether the policy may restart the container.
func (p RestartPolicy) Restarts() bool { return p.Name != "" && p.Name != "no" }

// Ulimit is one resource limit of the "ulimit" extension.
type Ulimit struct {
	Name       string
	Soft, Hard int64
}

// Platform is the "platform" extension: os/arch[/variant].
type Platform struct {
	OS, Arch, Variant string
}

// containerExtension parses one extension's value into the settings.
type containerExtension func(c *ContainerSettings, v string) error

// containerExtensions maps every container extension key to its parser.
var containerExtensions = map[string]containerExtension{
	"pull": func(c *ContainerSettings, v string) error {
		switch v {
		case "never", "missing", "always":
			c.Pull = v
			return nil
		}
		return fmt.Errorf("want never, missing or always, not %q", v)
	},
	"user":     nonEmpty(func(c *ContainerSettings, v string) { c.User = v }),
	"net":      nonEmpty(func(c *ContainerSettings, v string) { c.Network = v }),
	"hostname": nonEmpty(func(c *ContainerSettings, v string) { c.Hostname = v }),
	"entrypoint": func(c *ContainerSettings, v string) error {
		// A JSON array gives the whole entrypoint; any other value is the
		// one program, as with docker run --entrypoint; "" clears the
		// image's entrypoint.
		c.EntrypointSet = true
		if strings.HasPrefix(strings.TrimSpace(v), "[") {
			var ep []string
			if err := json.Unmarshal([]byte(v), &ep); err != nil {
				return fmt.Errorf("not a JSON array of strings: %v", err)
			}
			c.Entrypoint = ep
			return nil
		}
		if v != "" {
			c.Entrypoint = []string{v}
		}
		return nil
	},
	"exposedPorts": func(c *ContainerSettings, v string) error {
		for _, s := range splitList(v) {
			p, err := parsePort(s)
			if err != nil {
				return err
			}
			c.ExposedPorts = append(c.ExposedPorts, p)
		}
		if len(c.ExposedPorts) == 0 {
			return errEmpty
		}
		return nil
	},
	"privileged": boolExt(func(c *ContainerSettings, b bool) { c.Privileged = b }),
	"read-only":  boolExt(func(c *ContainerSettings, b bool) { c.ReadOnly = b }),
	"rm":         boolExt(func(c *ContainerSettings, b bool) { c.AutoRemove, c.Keep = b, !b }),
	"restart": func(c *ContainerSettings, v string) error {
		name, count, hasCount := strings.Cut(v, ":")
		switch name {
		case "no", "always", "unless-stopped", "on-failure":
		default:
			return fmt.Errorf("want no, always, unless-stopped or on-failure[:N], not %q", v)
		}
		p := RestartPolicy{Name: name}
		if hasCount {
			if name != "on-failure" {
				return fmt.Errorf("a retry count goes only with on-failure, not %q", name)
			}
			n, err := strconv.Atoi(count)
			if err != nil || n < 0 {
				return fmt.Errorf("bad retry count %q: want a whole number, 0 or more", count)
			}
			p.MaxRetries = n
		}
		c.Restart = p
		return nil
	},
	"ipc": modeExt("IPC", []string{"private", "host", "shareable", "none"}, true, func(c *ContainerSettings, v string) { c.IPC = v }),
	"uts": modeExt("UTS", []string{"host"}, false, func(c *ContainerSettings, v string) { c.UTS = v }),
	"pid": modeExt("PID", []string{"host"}, true, func(c *ContainerSettings, v string) { c.PID = v }),
	"gpus": func(c *ContainerSettings, v string) error {
		if v == "all" {
			c.GPUs = -1
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf(`want "all" or a count of at least 1, not %q`, v)
		}
		c.GPUs = n
		return nil
	},
	"shm-size": sizeExt("64m", func(c *ContainerSettings, n int64) { c.ShmSize = n }),
	"memory":   sizeExt("512m", func(c *ContainerSettings, n int64) { c.Memory = n }),
	"memory-swap": func(c *ContainerSettings, v string) error {
		if v == "-1" {
			c.MemorySwap = -1
			return nil
		}
		n, err := ParseSize(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("want a positive size like 1g, or -1, not %q", v)
		}
		c.MemorySwap = n
		return nil
	},
	"memory-reservation": func(c *ContainerSettings, v string) error {
		n, err := ParseSize(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("want a positive size like 256m, not %q", v)
		}
		c.MemoryReservation = n
		return nil
	},
	"ulimit": func(c *ContainerSettings, v string) error {
		for _, s := range splitList(v) {
			u, err := parseUlimit(s)
			if err != nil {
				return err
			}
			c.Ulimits = append(c.Ulimits, u)
		}
		if len(c.Ulimits) == 0 {
			return errEmpty
		}
		return nil
	},
	"cap-add":  listExt(func(c *ContainerSettings, l []string) { c.CapAdd = l }),
	"cap-drop": listExt(func(c *ContainerSettings, l []string) { c.CapDrop = l }),
	// An empty security-opt is allowed: it drops the default
	// no-new-privileges.
	"security-opt": func(c *ContainerSettings, v string) error {
		c.SecurityOpt, c.SecurityOptSet = splitList(v), true
		return nil
	},
	"tmpfs": func(c *ContainerSettings, v string) error {
		m := map[string]string{}
		for _, s := range splitList(v) {
			p, opts, _ := strings.Cut(s, ":")
			if !strings.HasPrefix(p, "/") {
				return fmt.Errorf("tmpfs path %q is not absolute", p)
			}
			m[p] = opts
		}
		if len(m) == 0 {
			return errEmpty
		}
		c.Tmpfs = m
		return nil
	},
	"dns": func(c *ContainerSettings, v string) error {
		for _, s := range splitList(v) {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return fmt.Errorf("%q is not an IP address", s)
			}
			c.DNS = append(c.DNS, a)
		}
		if len(c.DNS) == 0 {
			return errEmpty
		}
		return nil
	},
	"add-host": func(c *ContainerSettings, v string) error {
		for _, s := range splitList(v) {
			host, ip, ok := strings.Cut(s, ":")
			if !ok || host == "" {
				return fmt.Errorf("want host:ip, not %q", s)
			}
			if _, err := netip.ParseAddr(ip); err != nil && ip != "host-gateway" {
				return fmt.Errorf("bad address in %q: want an IP address or host-gateway", s)
			}
			c.ExtraHosts = append(c.ExtraHosts, host+":"+ip)
		}
		if len(c.ExtraHosts) == 0 {
			return errEmpty
		}
		return nil
	},
	"labels": func(c *ContainerSettings, v string) error {
		m := map[string]string{}
		for _, s := range splitList(v) {
			k, val, ok := strings.Cut(s, "=")
			if !ok || k == "" {
				return fmt.Errorf("want key=value, not %q", s)
			}
			if strings.HasPrefix(k, "berth.") {
				return fmt.Errorf("label %q: the berth. prefix is reserved", k)
			}
			m[k] = val
		}
		c.Labels = m
		return nil
	},
	"platform": func(c *ContainerSettings, v string) error {
		parts := strings.Split(v, "/")
		if len(parts) < 2 || len(parts) > 3 || slices.Contains(parts, "") {
			return fmt.Errorf("want os/arch[/variant], not %q", v)
		}
		p := &Platform{OS: parts[0], Arch: parts[1]}
		if len(parts) == 3 {
			p.Variant = parts[2]
		}
		c.Platform = p
		return nil
	},
	"cpus": func(c *ContainerSettings, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 0 && f <= 1e6) {
			return fmt.Errorf("want a positive number like 1.5, not %q", v)
		}
		c.NanoCPUs = int64(math.Round(f * 1e9))
		return nil
	},
	"cpu-shares": func(c *ContainerSettings, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 2 || n > 262144 {
			return fmt.Errorf("want a whole number from 2 to 262144, not %q", v)
		}
		c.CPUShares = n
		return nil
	},
	"blkio-weight": func(c *ContainerSettings, v string) error {
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil || n < 10 || n > 1000 {
			return fmt.Errorf("want a whole number from 10 to 1000, not %q", v)
		}
		c.BlkioWeight = uint16(n)
		return nil
	},
	"pids": func(c *ContainerSettings, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || (n < 1 && n != -1) {
			return fmt.Errorf("want a positive whole number or -1, not %q", v)
		}
		c.PidsLimit = &n
		return nil
	},
}

var errEmpty = errors.New("empty value")

func nonEmpty(set func(*ContainerSettings, string)) containerExtension {
	return func(c *ContainerSettings, v string) error {
		if strings.TrimSpace(v) == "" {
			return errEmpty
		}
		set(c, v)
		return nil
	}
}

func boolExt(set func(*ContainerSettings, bool)) containerExtension {
	return func(c *ContainerSettings, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf(`want "true" or "false", not %q`, v)
		}
		set(c, b)
		return nil
	}
}

func listExt(set func(*ContainerSettings, []string)) containerExtension {
	return func(c *ContainerSettings, v string) error {
		l := splitList(v)
		if len(l) == 0 {
			return errEmpty
		}
		set(c, l)
		return nil
	}
}

func sizeExt(example string, set func(*ContainerSettings, int64)) containerExtension {
	return func(c *ContainerSettings, v string) error {
		n, err := ParseSize(v)
		if err != nil || n <= 0 {
			return fmt.Errorf("want a positive size like %s, not %q", example, v)
		}
		set(c, n)
		return nil
	}
}

// modeExt accepts one of modes, or "container:NAME" if withContainer.
func modeExt(what string, modes []string, withContainer bool, set func(*ContainerSettings, string)) containerExtension {
	return func(c *ContainerSettings, v string) error {
		name, isCtr := strings.CutPrefix(v, "container:")
		if slices.Contains(modes, v) || withContainer && isCtr && name != "" {
			set(c, v)
			return nil
		}
		want := strings.Join(modes, ", ")
		if withContainer {
			want += " or container:NAME"
		}
		return fmt.Errorf("invalid %s mode %q: want %s", what, v, want)
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

func parsePort(s string) (Port, error) {
	// docker run -p's forms: [[HOSTIP:]HOSTPORT:]PORT[/PROTO], and
	// HOSTIP::PORT for an ephemeral port on one address; an IPv6 HOSTIP
	// is bracketed.
	spec, proto, hasProto := strings.Cut(s, "/")
	var hostIP, hostPort, num string
	if strings.HasPrefix(spec, "[") {
		end := strings.Index(spec, "]:")
		if end < 0 {
			return Port{}, fmt.Errorf("port %q: want [HOSTIP:][HOSTPORT:]PORT[/PROTO]", s)
		}
		hostIP, spec = spec[1:end], spec[end+2:]
		var ok bool
		if hostPort, num, ok = strings.Cut(spec, ":"); !ok {
			return Port{}, fmt.Errorf("port %q: want [HOSTIP:][HOSTPORT:]PORT[/PROTO]", s)
		}
	} else {
		switch parts := strings.Split(spec, ":"); len(parts) {
		case 1:
			num = parts[0]
		case 2:
			hostPort, num = parts[0], parts[1]
		case 3:
			hostIP, hostPort, num = parts[0], parts[1], parts[2]
		default:
			return Port{}, fmt.Errorf("port %q: want [HOSTIP:][HOSTPORT:]PORT[/PROTO]", s)
		}
	}
	n, err := strconv.ParseUint(num, 10, 16)
	if err != nil || n == 0 {
		return Port{}, fmt.Errorf("port %q: want a number from 1 to 65535, with /tcp, /udp or /sctp", s)
	}
	p := Port{Number: uint16(n), Proto: "tcp"}
	if hostIP != "" {
		ip, err := netip.ParseAddr(hostIP)
		if err != nil {
			return Port{}, fmt.Errorf("port %q: host address %q is not an IP address", s, hostIP)
		}
		p.HostIP = ip.String()
	}
	if hostPort != "" {
		h, err := strconv.ParseUint(hostPort, 10, 16)
		if err != nil || h == 0 {
			return Port{}, fmt.Errorf("port %q: host port %q is not a number from 1 to 65535", s, hostPort)
		}
		p.HostPort = uint16(h)
	}
	if hasProto {
		switch proto = strings.ToLower(proto); proto {
		case "tcp", "udp", "sctp":
			p.Proto = proto
		default:
			return Port{}, fmt.Errorf("port %q: protocol %q is not tcp, udp or sctp", s, proto)
		}
	}
	return p, nil
}

// ulimitNames are the resource limits a container may set.
var ulimitNames = []string{"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
	"nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}

// parseUlimit parses "name=soft[:hard]"; -1 is unlimited.
func parseUlimit(s string) (Ulimit, error) {
	name, val, ok := strings.Cut(s, "=")
	if !ok {
		return Ulimit{}, fmt.Errorf("want name=soft[:hard], not %q", s)
	}
	if !slices.Contains(ulimitNames, name) {
		return Ulimit{}, fmt.Errorf("unknown ulimit %q (known: %s)", name, strings.Join(ulimitNames, ", "))
	}
	softS, hardS, hasHard := strings.Cut(val, ":")
	soft, err := strconv.ParseInt(softS, 10, 64)
	if err != nil || soft < -1 {
		return Ulimit{}, fmt.Errorf("ulimit %s: bad limit %q", name, softS)
	}
	hard := soft
	if hasHard {
		if hard, err = strconv.ParseInt(hardS, 10, 64); err != nil || hard < -1 {
			return Ulimit{}, fmt.Errorf("ulimit %s: bad limit %q", name, hardS)
		}
		if hard != -1 && (soft == -1 || soft > hard) {
			return Ulimit{}, fmt.Errorf("ulimit %s: the soft limit %d is above the hard limit %d", name, soft, hard)
		}
	}
	return Ulimit{Name: name, Soft: soft, Hard: hard}, nil
}

// ParseSize parses a size in bytes with an optional binary unit, as the
// Docker CLI does (go-units' RAMInBytes): "512", "64k", "256m", "1.5g",
// "2GiB", "1 tb" (k = 1024).
func ParseSize(s string) (int64, error) {
	n, err := units.RAMInBytes(strings.TrimSpace(s))
	if err != nil || n < 0 {
		// Past int64, the float-to-int conversion comes out negative.
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return n, nil
}

// ContainerExtensions returns the keys of the container extensions, sorted.
func ContainerExtensions() []string { return slices.Sorted(maps.Keys(containerExtensions)) }

// ParseContainerExtensions parses a container job's extensions. An unknown
// key or a bad value gives a *FieldError naming "extensions.KEY" (after
// prefix, such as "template.").
func ParseContainerExtensions(ext map[string]string, prefix string) (*ContainerSettings, error) {
	c := &ContainerSettings{}
	for _, k := range slices.Sorted(maps.Keys(ext)) {
		parse, ok := containerExtensions[k]
		if !ok {
			return nil, fieldErr(prefix+"extensions."+k, "unknown container extension (known: %s)",
				strings.Join(ContainerExtensions(), ", "))
		}
		if err := parse(c, ext[k]); err != nil {
			return nil, fieldErr(prefix+"extensions."+k, "%v", err)
		}
	}
	return c, nil
}

// ValidateContainerExtension checks one extension's value as
// ParseContainerExtensions does, for callers that name the setting
// otherwise (a command-line flag): the error says only why.
func ValidateContainerExtension(key, value string) error {
	parse, ok := containerExtensions[key]
	if !ok {
		return fmt.Errorf("unknown container extension %q (known: %s)", key, strings.Join(ContainerExtensions(), ", "))
	}
	return parse(&ContainerSettings{}, value)
}
