package openjd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/pflag"

	"github.com/berth-run/berth/executor/docker"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/openjd/session"
	"github.com/berth-run/berth/worker/sessionbox"
)

// ContainerOptions are the flags of the built-in container environment:
// with Image set, the whole session runs in one container of it.
type ContainerOptions struct {
	Image  string
	Mounts []job.Mount
	// Extensions are --memory, --cpus, --pids and --network as container
	// extensions (what berth submit sends), and Settings the same parsed.
	Extensions map[string]string
	Settings   job.ContainerSettings
}

// containerExtFlags are the flags that set one container setting each,
// named after the template extension they are checked as.
var containerExtFlags = []struct{ flag, ext, usage string }{
	{"memory", "memory", "Memory limit of the session's container (`SIZE`: 256m, 1g)"},
	{"cpus", "cpus", "CPU limit of the session's container (`N`: 0.5, 2)"},
	{"pids", "pids", "Process limit of the session's container (`N`; -1: unlimited)"},
	{"network", "net", "Network of the session's container (`NAME`: none, host, bridge, a network name)"},
}

// containerFlagSet holds the raw values until they are checked.
type containerFlagSet struct {
	values map[string]*string
}

func addContainerFlags(fs *pflag.FlagSet, c *ContainerOptions) *containerFlagSet {
	set := &containerFlagSet{values: map[string]*string{}}
	fs.StringVar(&c.Image, "image", "", "Run the whole session in one container of `IMAGE` (the built-in container environment)")
	for _, f := range containerExtFlags {
		set.values[f.flag] = fs.String(f.flag, "", f.usage)
	}
	fs.Var(&cmdutil.MountValue{P: &c.Mounts}, "mount", "Mount a host path in the session's container, read-only unless rw (`HOST:CONTAINER[:ro|rw]`, repeatable)")
	return set
}

// apply checks the container flags into c; a setting without --image is a
// usage error naming the flag.
func (set *containerFlagSet) apply(fs *pflag.FlagSet, c *ContainerOptions) error {
	ext := map[string]string{}
	for _, f := range containerExtFlags {
		if !fs.Changed(f.flag) {
			continue
		}
		if c.Image == "" {
			return cmdutil.FlagErrorf("--%s needs --image", f.flag)
		}
		v := *set.values[f.flag]
		if err := job.ValidateContainerExtension(f.ext, v); err != nil {
			return cmdutil.FlagErrorf("--%s: %v", f.flag, err)
		}
		ext[f.ext] = v
	}
	if len(c.Mounts) > 0 && c.Image == "" {
		return cmdutil.FlagErrorf("--mount needs --image")
	}
	s, err := job.ParseContainerExtensions(ext, "")
	if err != nil {
		return cmdutil.FlagErrorf("%v", err)
	}
	c.Settings = *s
	if len(ext) > 0 {
		c.Extensions = ext
	}
	return nil
}

// sessionContainer is a session's container with what goes with it.
type sessionContainer struct {
	exec *docker.Executor
	box  *sessionbox.Box
	root string // the session root, mounted in the container
}

// startContainer starts the session's container: its own executor
// instance, so that concurrent runs leave each other's containers alone,
// and a fresh session root bind-mounted at the same path.
func startContainer(ctx context.Context, c *ContainerOptions) (*sessionContainer, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	e, err := docker.New(ctx, docker.Config{Instance: "openjd-run-" + id})
	if err != nil {
		return nil, fmt.Errorf("--image: %w", err)
	}
	root, err := os.MkdirTemp("", "berth-openjd-box-")
	if err != nil {
		e.Close()
		return nil, err
	}
	if root, err = filepath.EvalSymlinks(root); err != nil {
		e.Close()
		return nil, err
	}
	box, err := sessionbox.Start(ctx, e, sessionbox.Options{ID: id, Image: c.Image, WorkDir: root, Mounts: c.Mounts,
		ContainerSettings: c.Settings})
	if err != nil {
		e.Close()
		_ = os.RemoveAll(root)
		return nil, err
	}
	return &sessionContainer{exec: e, box: box, root: root}, nil
}

func (sc *sessionContainer) runner() session.Runner { return sc.box.Runner() }

// close removes the container, and the session root unless the session's
// working directory in it is kept.
func (sc *sessionContainer) close(ctx context.Context, keep bool) error {
	err := sc.box.Close(ctx)
	sc.exec.Close()
	if !keep {
		if rerr := os.RemoveAll(sc.root); rerr != nil && err == nil {
			err = rerr
		}
	}
	return err
}
