package run

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/job"
)

// containerFlags are the shortcuts for container settings; each sets the
// template extension of the same meaning (see docs/docker.md). --ext sets
// any extension. Values are checked as the flags are read, with the checks
// the server applies (job.ValidateContainerExtension), so a bad one fails
// as a usage error naming the flag, before anything is submitted.
type containerFlags struct {
	values map[string]*extValue // extension key → flag value
	bools  map[string]*bool
	ext    extKVValue
	mounts []job.Mount // --mount
	outs   []job.Mount // --stage-out
	// outPath and errPath are --output-path and --error-path, absolute.
	outPath, errPath hostPath
}

// containerValueFlags are the flags that set one extension each. A list
// flag may be repeated; its values are joined with commas.
var containerValueFlags = []struct {
	flag, ext, usage string
	list             bool
}{
	{"memory", "memory", "Container memory limit (`SIZE`: 256m, 1g)", false},
	{"memory-swap", "memory-swap", "Container memory plus swap limit (`SIZE`; -1: unlimited)", false},
	{"cpus", "cpus", "Container CPU limit (`N`: 0.5, 2)", false},
	{"cpu-shares", "cpu-shares", "Container CPU weight (`N`)", false},
	{"pids", "pids", "Container process limit (`N`; -1: unlimited)", false},
	{"shm-size", "shm-size", "Size of the container's /dev/shm (`SIZE`: 64m)", false},
	{"gpus", "gpus", "GPUs for the container (`N` or all)", false},
	{"restart", "restart", "Container restart policy (`POLICY`: no, always, unless-stopped, on-failure[:N])", false},
	{"network", "net", "Container network (`NAME`: none, host, bridge, a network name)", false},
	{"hostname", "hostname", "Host name inside the container (`NAME`)", false},
	{"user", "user", "User to run the container as (`USER[:GROUP]`)", false},
	{"entrypoint", "entrypoint", "Replace the image's entrypoint (`PATH`)", false},
	{"platform", "platform", "Image platform (`OS/ARCH[/VARIANT]`)", false},
	{"pull", "pull", "Image pull policy (`POLICY`: never, missing, always)", false},
	{"ulimit", "ulimit", "Container resource limit (`NAME=SOFT[:HARD]`, repeatable)", true},
	{"publish", "exposedPorts", "Publish a container port as docker run -p does (`[[HOSTIP:]HOSTPORT:]PORT[/PROTO]`, repeatable; a bare PORT gets a host port the engine picks)", true},
	{"tmpfs", "tmpfs", "Mount a tmpfs in the container (`PATH[:OPTS]`, repeatable; no commas in OPTS)", true},
	{"cap-add", "cap-add", "Add a Linux capability to the container (`CAP`, repeatable)", true},
	{"cap-drop", "cap-drop", "Drop a Linux capability of the container (`CAP`, repeatable; ALL for all)", true},
	{"dns", "dns", "DNS server of the container (`IP`, repeatable)", true},
	{"add-host", "add-host", "Add a host name to the container's /etc/hosts (`HOST:IP`, repeatable)", true},
}

var containerBoolFlags = []struct{ flag, ext, usage string }{
	{"read-only", "read-only", "Mount the container's root filesystem read-only"},
	{"privileged", "privileged", "Run the container privileged (all capabilities, all devices)"},
}

func addContainerFlags(fs *pflag.FlagSet, s *job.Spec) *containerFlags {
	c := &containerFlags{values: map[string]*extValue{}, bools: map[string]*bool{}}
	fs.StringVar(&s.Template.Image, "image", "", "Run the command in a container of `IMAGE`")
	for _, f := range containerValueFlags {
		v := &extValue{ext: f.ext, list: f.list}
		c.values[f.ext] = v
		short := ""
		if f.flag == "publish" {
			short = "p"
		}
		fs.VarP(v, f.flag, short, f.usage)
	}
	for _, f := range containerBoolFlags {
		c.bools[f.ext] = fs.Bool(f.flag, false, f.usage)
	}
	// --expose, the flag's former name, publishes too (DRMAA2's exposedPorts).
	fs.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "expose" {
			name = "publish"
		}
		return pflag.NormalizedName(name)
	})
	fs.Var(&c.ext, "ext", "Set a container extension `KEY=VALUE` (repeatable; see docs/docker.md)")
	fs.Var(&cmdutil.MountValue{P: &c.mounts}, "mount", "Mount a host path in the container, read-only unless rw (`HOST:CONTAINER[:ro|rw]`, repeatable)")
	fs.Var(&cmdutil.MountValue{P: &c.outs, Out: true}, "stage-out", "Copy a container path to the host when the job ends (`CONTAINER:HOST`, repeatable)")
	fs.Var(&c.outPath, "output-path", "Copy the job's stdout to the host `FILE` when it ends (berth keeps its own copy)")
	fs.Var(&c.errPath, "error-path", "Copy the job's stderr to the host `FILE` when it ends (the same FILE as --output-path: stdout, then stderr)")
	return c
}

// apply copies the set flags into the template; a container setting
// without --image is a usage error.
func (c *containerFlags) apply(fs *pflag.FlagSet, s *job.Spec) error {
	set := map[string]string{}
	for k, v := range c.ext.m {
		set[k] = v
	}
	for _, f := range containerValueFlags {
		if fs.Changed(f.flag) {
			set[f.ext] = c.values[f.ext].String()
		}
	}
	for _, f := range containerBoolFlags {
		if *c.bools[f.ext] {
			set[f.ext] = "true"
		}
	}
	if len(set) == 0 && len(c.mounts) == 0 && len(c.outs) == 0 && c.outPath == "" && c.errPath == "" {
		return nil
	}
	if s.Template.Image == "" {
		return cmdutil.FlagErrorf("container settings (--memory, --cpus, --mount, --stage-out, --output-path, --ext, ...) need --image")
	}
	s.Template.StageIn = append(s.Template.StageIn, c.mounts...)
	s.Template.StageOut = append(s.Template.StageOut, c.outs...)
	s.Template.OutputPath = cmp.Or(string(c.outPath), s.Template.OutputPath)
	s.Template.ErrorPath = cmp.Or(string(c.errPath), s.Template.ErrorPath)
	if len(set) == 0 {
		return nil
	}
	if s.Template.Extensions == nil {
		s.Template.Extensions = map[string]string{}
	}
	for k, v := range set {
		s.Template.Extensions[k] = v
	}
	return nil
}

// extValue is a flag that sets one extension, checked as it is read.
type extValue struct {
	ext    string
	list   bool
	values []string
}

func (v *extValue) Set(s string) error {
	if err := job.ValidateContainerExtension(v.ext, s); err != nil {
		return err
	}
	if !v.list {
		v.values = v.values[:0]
	}
	v.values = append(v.values, s)
	return nil
}

func (v *extValue) String() string { return strings.Join(v.values, ",") }
func (v *extValue) Type() string   { return "string" }

// extKVValue is --ext KEY=VALUE, repeatable, checked as it is read.
type extKVValue struct{ m map[string]string }

func (v *extKVValue) Set(s string) error {
	k, val, err := job.ParseKV(s)
	if err != nil {
		return err
	}
	if err := job.ValidateContainerExtension(k, val); err != nil {
		if !slices.Contains(job.ContainerExtensions(), k) {
			return err
		}
		return fmt.Errorf("extension %s: %w", k, err)
	}
	if v.m == nil {
		v.m = map[string]string{}
	}
	v.m[k] = val
	return nil
}

func (v *extKVValue) String() string { return "" }
func (v *extKVValue) Type() string   { return "KEY=VALUE" }

// hostPath is a file on the host, made absolute from the current directory.
type hostPath string

func (v *hostPath) Set(s string) error {
	if s == "" {
		return errors.New("empty path")
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return err
	}
	*v = hostPath(abs)
	return nil
}

func (v *hostPath) String() string { return string(*v) }
func (v *hostPath) Type() string   { return "FILE" }
