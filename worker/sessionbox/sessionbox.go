// Package sessionbox gives an OpenJD session a container of its own, the
// built-in container environment: one container per session, started
// before the first environment is entered and removed when the session
// ends, in which every action of the session (environment enter and exit,
// task run) runs through the Engine API's exec (executor.Execer), never
// the docker CLI.
//
//	box, err := sessionbox.Start(ctx, dockerExecutor, sessionbox.Options{Image: img, WorkDir: root})
//	defer box.Close(context.WithoutCancel(ctx))
//	s, err := session.New(session.Config{Root: root, Runner: box.Runner(), ...})
//
// The container's first process only keeps it alive (sleep); the session's
// working directory root (Options.WorkDir, the session's Config.Root) is
// bind-mounted read-write at the same path, so that paths the session
// writes (embedded files, path mapping rules, cancel_info.json) mean the
// same inside and out. The container is a task of the executor, labelled as
// its other containers with the executor's Instance (the owner, a worker
// ID): RemoveStale finds and removes those a killed owner left behind.
//
// Containers get no privilege they did not ask for: the executor's
// defaults (not privileged, default capabilities, no-new-privileges) and
// the user of the image, or, when this process is not root, its own user
// and group, so that what actions write in the working directory can be
// removed.
package sessionbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/openjd/session"
)

// TaskPrefix starts the executor task ID of every session container:
// "openjd-session-<Options.ID>". Worker task keys never start so.
const TaskPrefix = "openjd-session-"

// LabelSession is the container label that holds Options.ID.
const LabelSession = "berth.openjd.session"

// KeepAliveDefault is the default of Options.KeepAlive.
var KeepAliveDefault = []string{"sleep", "2147483647"}

// Engine is the container executor a Box runs on: executor/docker's
// Executor.
type Engine interface {
	executor.Executor
	executor.Execer
}

// RecoverableEngine is an Engine that can follow again what an earlier
// instance of it started, as RemoveStale needs: executor/docker's
// Executor.
type RecoverableEngine interface {
	Engine
	executor.Recoverer
}

// Options describe a session's container.
type Options struct {
	// ID names the session: the container's task is TaskPrefix+ID and its
	// LabelSession label ID. Unique among the engine's live sessions.
	// Defaults to a random identifier.
	ID string
	// Image is the image reference; required. Pulled if missing, unless
	// Pull says otherwise.
	Image string
	// WorkDir is the host directory bind-mounted, read-write, at the same
	// path: the root the session makes its working directory in
	// (session.Config.Root). Required; absolute, or made so.
	WorkDir string
	// Mounts are further bind mounts of host paths, read-only unless RW.
	Mounts []job.Mount
	// Env is the container's environment, KEY=value, on top of the
	// image's, beneath each action's.
	Env []string
	// KeepAlive is the argv of the container's first process, which only
	// keeps it alive; the image must have it. Defaults to
	// KeepAliveDefault.
	KeepAlive []string
	// ContainerSettings are the container's settings: Memory, NanoCPUs,
	// PidsLimit, Network, User, Labels and the others of
	// job.ContainerSettings, with the engine's defaults for zero values.
	// Entrypoint, AutoRemove and Restart are the Box's own and ignored.
	// User defaults to the image's user when this process is root, else
	// to this process's uid:gid.
	job.ContainerSettings
}

// Box is a session's running container.
type Box struct {
	e      Engine
	id     string // the executor's task ID
	handle *executor.Handle

	mu     sync.Mutex
	closed bool
}

// Start creates and starts the session's container and returns once it
// runs. Errors name the option at fault.
func Start(ctx context.Context, e Engine, opts Options) (*Box, error) {
	spec, err := opts.spec()
	if err != nil {
		return nil, fmt.Errorf("sessionbox: %w", err)
	}
	h, err := e.Start(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("sessionbox: starting the session's container: %w", err)
	}
	return &Box{e: e, id: spec.ID, handle: h}, nil
}

// spec returns the executor spec of the container.
func (o Options) spec() (*executor.Spec, error) {
	if o.Image == "" {
		return nil, errors.New("image: required")
	}
	if o.WorkDir == "" {
		return nil, errors.New("work dir: required")
	}
	dir, err := filepath.Abs(o.WorkDir)
	if err != nil {
		return nil, fmt.Errorf("work dir: %w", err)
	}
	if o.ID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		o.ID = hex.EncodeToString(b[:])
	}
	if strings.ContainsAny(o.ID, "/ \t\n") {
		return nil, fmt.Errorf("id: %q has a slash or a space", o.ID)
	}
	for i, kv := range o.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("env[%d]: %q is not KEY=value", i, kv)
		}
	}
	for i, m := range o.Mounts {
		if !filepath.IsAbs(m.Host) || !filepath.IsAbs(m.Container) {
			return nil, fmt.Errorf("mounts[%d]: want absolute paths, not %q and %q", i, m.Host, m.Container)
		}
	}
	keep := o.KeepAlive
	if len(keep) == 0 {
		keep = KeepAliveDefault
	}
	set := o.ContainerSettings
	set.Entrypoint, set.EntrypointSet = nil, true // clears the image's
	set.AutoRemove = false
	set.Restart = job.RestartPolicy{}
	if set.User == "" && os.Getuid() > 0 {
		set.User = strconv.Itoa(os.Getuid()) + ":" + strconv.Itoa(os.Getgid())
	}
	set.Labels = maps.Clone(set.Labels)
	if set.Labels == nil {
		set.Labels = map[string]string{}
	}
	set.Labels[LabelSession] = o.ID
	mounts := append([]job.Mount{{Host: dir, Container: dir, RW: true}}, o.Mounts...)
	return &executor.Spec{
		ID:      TaskPrefix + o.ID,
		Command: keep[0],
		Args:    keep[1:],
		Env:     o.Env,
		WorkDir: dir,
		Container: &executor.ContainerSpec{
			Image:             o.Image,
			Mounts:            mounts,
			ContainerSettings: set,
		},
	}, nil
}

// ID returns the executor's task ID of the container (TaskPrefix+Options.ID).
func (b *Box) ID() string { return b.id }

// ContainerID returns the engine's ID of the container.
func (b *Box) ContainerID() string { return b.handle.Ident.ContainerID }

// Handle returns the executor's handle of the container.
func (b *Box) Handle() *executor.Handle { return b.handle }

// Runner returns the session.Runner that runs each command in the
// container (see the package doc).
func (b *Box) Runner() session.Runner { return execRunner{b} }

// closeTimeout bounds Close when its ctx has no deadline.
const closeTimeout = time.Minute

// Close kills and removes the container, whatever runs in it. Exit the
// session's environments first. Calling it again does nothing.
func (b *Box) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, closeTimeout)
		defer cancel()
	}
	if err := b.e.Destroy(ctx, b.id, true); err != nil && !errors.Is(err, executor.ErrNotFound) {
		return fmt.Errorf("sessionbox: removing the session's container: %w", err)
	}
	return nil
}

// RemoveStale removes the session containers an earlier instance of the
// engine's owner (a worker killed mid-session) left, running or not, and
// returns their task IDs. Containers of this instance's own sessions, and
// task containers, are left alone. A worker calls it at start, with the
// engine it runs sessions on, before the engine's Cleanup, which would
// otherwise take them for tasks of unknown IDs (as it does a container
// created but never started, which Recoverable does not list).
func RemoveStale(ctx context.Context, e RecoverableEngine) ([]string, error) {
	hs, err := e.Recoverable(ctx)
	if err != nil {
		return nil, fmt.Errorf("sessionbox: listing stale session containers: %w", err)
	}
	var (
		removed []string
		errs    []error
	)
	for _, h := range hs {
		if !strings.HasPrefix(h.ID, TaskPrefix) {
			continue
		}
		if err := e.Recover(ctx, h); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := e.Destroy(ctx, h.ID, true); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, h.ID)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("sessionbox: removing stale session containers: %w", err)
	}
	return removed, nil
}
