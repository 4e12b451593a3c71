package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-run/berth/executor"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Start creates and starts the task's container (see buildContainer for the
// mapping), pulling its image as s.Container.Pull says, and returns once
// the engine has started it. Output goes to s.Stdout and s.Stderr (created if
// missing, truncated if present; empty discards). Every failure wraps
// executor.ErrStartFailed; a container that was created but did not start is
// removed.
func (e *Executor) Start(ctx context.Context, s *executor.Spec) (*executor.Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.ID == "" {
		return nil, fmt.Errorf("start: empty task ID: %w", executor.ErrStartFailed)
	}
	if err := e.tasks.Reserve(s.ID); err != nil {
		return nil, err
	}
	h, err := e.start(ctx, s)
	if err != nil {
		e.tasks.Unreserve(s.ID)
		if !errors.Is(err, executor.ErrStartFailed) {
			err = fmt.Errorf("%w: %w", executor.ErrStartFailed, err)
		}
		return nil, fmt.Errorf("start %s: %w", s.ID, err)
	}
	return h, nil
}

func (e *Executor) start(ctx context.Context, s *executor.Spec) (*executor.Handle, error) {
	cs, err := buildContainer(s, &e.cfg)
	if err != nil {
		return nil, err
	}
	// Under "never" and "missing" the image is looked at only when the
	// create says it is absent, which spares a request per container.
	if cs.Pull == PullAlways {
		if err := e.ensureImage(ctx, cs.Config.Image, cs.Pull, cs.Platform); err != nil {
			return nil, err
		}
	}
	out, err := newOutputs(s.Stdout, s.Stderr, s.Times, e.cfg.OutputLimit, false)
	if err != nil {
		return nil, err
	}
	id, err := e.create(ctx, cs)
	if err != nil && cerrdefs.IsNotFound(err) && cs.Pull != PullAlways {
		if ierr := e.ensureImage(ctx, cs.Config.Image, cs.Pull, cs.Platform); ierr != nil {
			out.close()
			return nil, ierr
		}
		id, err = e.create(ctx, cs)
	}
	if err != nil {
		out.close()
		return nil, err
	}
	fail := func(err error) (*executor.Handle, error) {
		out.close()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, rerr := e.cli.ContainerRemove(rctx, id, client.ContainerRemoveOptions{Force: true}); rerr != nil {
			e.log.WarnContext(ctx, "removing a container that did not start", "task", s.ID, "container", shortID(id), "err", rerr)
		}
		return nil, err
	}
	// The wait is registered before the start, so that no exit is missed;
	// an auto-removed container is waited for until it is removed.
	cond := container.WaitConditionNextExit
	if cs.HostConfig.AutoRemove {
		cond = container.WaitConditionRemoved
	}
	wait := e.cli.ContainerWait(e.ctx, id, client.ContainerWaitOptions{Condition: cond})
	select {
	case err := <-wait.Error:
		return fail(fmt.Errorf("waiting for container: %w", err))
	default:
	}
	copies, err := copySpecOf(cs.Config.Labels, e.cfg.StageOutLimit)
	if err != nil {
		return fail(err)
	}
	// Attached before the start, so that the output of the first run
	// comes straight from the container, none missed (see output.go).
	var att *client.HijackedResponse
	if res, err := e.cli.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true}); err == nil {
		att = &res.HijackedResponse
	} else {
		e.log.WarnContext(ctx, "attaching to the container; reading its log instead", "task", s.ID, "err", err)
	}
	t := newTask(e, s.ID, id, out, cs.HostConfig.AutoRemove, !cs.HostConfig.RestartPolicy.IsNone(), copies)
	t.keep = cs.Config.Labels[LabelKeep] == "true"
	// Tracked before the start, so that events from the very start count.
	e.track(t)
	startedAt := time.Now()
	if _, err := e.cli.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		e.forget(t)
		if att != nil {
			att.Close()
		}
		if notFoundInImage(err) {
			return fail(&executor.CommandNotFoundError{Command: s.Command})
		}
		return fail(fmt.Errorf("starting container: %w", err))
	}
	e.goroutine(func() { t.run(wait, att) })
	e.log.DebugContext(ctx, "task started", "task", s.ID, "container", shortID(id), "image", cs.Config.Image)
	h := newHandle(s.ID, id, startedAt)
	h.Ident.Hostname, h.Ident.Ports = e.netIdent(ctx, id, cs)
	return h, nil
}

// create creates the container of cs.
func (e *Executor) create(ctx context.Context, cs *containerSpec) (string, error) {
	created, err := e.cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: cs.Config, HostConfig: cs.HostConfig, Platform: cs.Platform,
	})
	if err != nil {
		return "", fmt.Errorf("creating container: %w", err)
	}
	for _, w := range created.Warnings {
		e.log.WarnContext(ctx, "container create", "task", cs.Config.Labels[LabelTask], "warning", w)
	}
	return created.ID, nil
}

// notFoundInImage reports a start that failed because the command is not
// an executable in the container, as the OCI runtime words it
// (`exec: "x": executable file not found in $PATH`, or stat of a path
// failing).
func notFoundInImage(err error) bool {
	m := err.Error()
	return strings.Contains(m, "executable file not found") ||
		strings.Contains(m, "exec: \"") && strings.Contains(m, "no such file or directory")
}
