package run

import (
	"github.com/spf13/pflag"

	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/job"
)

// containerFlags are the shortcuts for container settings; each sets the
// template extension of the same meaning (see docs/docker.md). --ext sets
// any extension.
type containerFlags struct {
	values map[string]*string // extension key → flag value
	bools  map[string]*bool
	ext    map[string]string
}

var containerValueFlags = []struct{ flag, ext, usage string }{
	{"memory", "memory", "Container memory limit (`SIZE`: 256m, 1g)"},
	{"memory-swap", "memory-swap", "Container memory plus swap limit (`SIZE`; -1: unlimited)"},
	{"cpus", "cpus", "Container CPU limit (`N`: 0.5, 2)"},
	{"cpu-shares", "cpu-shares", "Container CPU weight (`N`)"},
	{"pids", "pids", "Container process limit (`N`)"},
	{"network", "net", "Container network (`NAME`: none, host, bridge, a network name)"},
	{"user", "user", "User to run the container as (`USER[:GROUP]`)"},
	{"entrypoint", "entrypoint", "Replace the image's entrypoint (`PATH`)"},
	{"pull", "pull", "Image pull policy (`POLICY`: never, missing, always)"},
}

func addContainerFlags(fs *pflag.FlagSet, s *job.Spec) *containerFlags {
	c := &containerFlags{values: map[string]*string{}, bools: map[string]*bool{}}
	fs.StringVar(&s.Template.Image, "image", "", "Run the command in a container of `IMAGE`")
	for _, f := range containerValueFlags {
		c.values[f.ext] = fs.String(f.flag, "", f.usage)
	}
	c.bools["read-only"] = fs.Bool("read-only", false, "Mount the container's root filesystem read-only")
	cmdutil.KVVar(fs, &c.ext, "ext", "Set a container extension `KEY=VALUE` (repeatable; see docs/docker.md)")
	return c
}

// apply copies the set flags into the template's extensions; a container
// setting without --image is a usage error.
func (c *containerFlags) apply(fs *pflag.FlagSet, s *job.Spec) error {
	set := map[string]string{}
	for k, v := range c.ext {
		set[k] = v
	}
	for _, f := range containerValueFlags {
		if fs.Changed(f.flag) {
			set[f.ext] = *c.values[f.ext]
		}
	}
	if *c.bools["read-only"] {
		set["read-only"] = "true"
	}
	if len(set) == 0 {
		return nil
	}
	if s.Template.Image == "" {
		return cmdutil.FlagErrorf("container settings (--memory, --cpus, --ext, ...) need --image")
	}
	if s.Template.Extensions == nil {
		s.Template.Extensions = map[string]string{}
	}
	for k, v := range set {
		s.Template.Extensions[k] = v
	}
	return nil
}
