package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Recover re-attaches to a task started by an earlier instance of the
// executor with the same Instance; it does nothing for a task this Executor
// tracks. The container is found by the ID the handle's state records, else
// by its labels
// (berth.task=h.ID, berth.executor=Instance). If it runs (or is paused), the
// executor follows it again: output continues in the files named by its
// labels from where they end (see output.go), and its wait is re-attached.
// If it has exited meanwhile, its true exit status is collected and the
// output still missing from the files is appended; CPU time and peak memory
// are then unknown (zero), as the engine keeps no numbers for an ended
// container. A container that never started is removed. Recover returns an
// error wrapping executor.ErrNotRecoverable when there is no container (or
// one of another owner) to follow.
func (e *Executor) Recover(ctx context.Context, h *executor.Handle) error {
	if h == nil {
		return errors.New("recover: nil handle")
	}
	if e.tasks.Has(h.ID) {
		return nil
	}
	if h.Driver != Driver && h.Driver != "" {
		return fmt.Errorf("recover %s: driver %q is not %q: %w", h.ID, h.Driver, Driver, executor.ErrNotRecoverable)
	}
	cid, err := containerOf(h)
	if err != nil {
		return fmt.Errorf("recover %s: %w", h.ID, err)
	}
	c, err := e.findContainer(ctx, h.ID, cid)
	if err != nil {
		return fmt.Errorf("recover %s: %w", h.ID, err)
	}
	if c.Config.Labels[LabelTask] != h.ID || c.Config.Labels[LabelExecutor] != e.cfg.Instance {
		return fmt.Errorf("recover %s: container %.12s belongs to task %q of executor %q: %w", h.ID, c.ID,
			c.Config.Labels[LabelTask], c.Config.Labels[LabelExecutor], executor.ErrNotRecoverable)
	}
	if c.State.Status == container.StateCreated {
		if _, err := e.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}); err != nil && !cerrdefs.IsNotFound(err) {
			e.log.WarnContext(ctx, "removing a container that never started", "task", h.ID, "err", err)
		}
		return fmt.Errorf("recover %s: container %.12s never started; removed: %w", h.ID, c.ID, executor.ErrNotRecoverable)
	}
	copies, err := copySpecOf(c.Config.Labels, e.cfg.StageOutLimit)
	if err != nil {
		return fmt.Errorf("recover %s: %w: %w", h.ID, executor.ErrNotRecoverable, err)
	}
	out, err := newOutputs(c.Config.Labels[LabelStdout], c.Config.Labels[LabelStderr], c.Config.Labels[LabelTimes], e.cfg.OutputLimit, true)
	if err != nil {
		return fmt.Errorf("recover %s: %w: %w", h.ID, executor.ErrNotRecoverable, err)
	}
	t := newTask(e, h.ID, c.ID, out, c.HostConfig != nil && c.HostConfig.AutoRemove,
		c.HostConfig != nil && !c.HostConfig.RestartPolicy.IsNone(), copies)
	t.restarts = c.RestartCount
	t.keep = c.Config.Labels[LabelKeep] == "true"
	switch {
	case c.State.Paused:
		t.state = job.Suspended
	case c.State.Restarting:
		t.state = job.Requeued
	}
	if !e.tasks.Put(t.id, t, true) { // a concurrent Recover or Start won
		out.close()
		return nil
	}
	e.mu.Lock()
	e.containers[t.containerID] = t
	e.mu.Unlock()
	cond := container.WaitConditionNotRunning
	wait := e.cli.ContainerWait(e.ctx, c.ID, client.ContainerWaitOptions{Condition: cond})
	e.goroutine(func() { t.run(wait, nil) })
	e.log.InfoContext(ctx, "task recovered", "task", h.ID, "container", shortID(c.ID), "state", c.State.Status)
	return nil
}

// findContainer inspects the container cid, or, if cid is empty or gone,
// the one labelled with the task.
func (e *Executor) findContainer(ctx context.Context, task, cid string) (*container.InspectResponse, error) {
	id := cid
	if id == "" {
		f := make(client.Filters).Add("label", LabelTask+"="+task, LabelExecutor+"="+e.cfg.Instance)
		res, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		if err != nil {
			return nil, err
		}
		if len(res.Items) == 0 {
			return nil, fmt.Errorf("no container labelled %s=%s: %w", LabelTask, task, executor.ErrNotRecoverable)
		}
		id = res.Items[0].ID
	}
	res, err := e.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		if cid != "" {
			// Look it up by its labels, in case the handle is stale.
			return e.findContainer(ctx, task, "")
		}
		return nil, fmt.Errorf("container %.12s is gone: %w", id, executor.ErrNotRecoverable)
	}
	if err != nil {
		return nil, err
	}
	c := res.Container
	if c.Config == nil || c.State == nil {
		return nil, fmt.Errorf("container %.12s: incomplete inspect answer", id)
	}
	return &c, nil
}

// Cleanup removes, with force, the containers labelled with this executor's
// Instance that it does not track (left by an earlier instance, not
// recovered), and returns their handles so that the caller can report their
// tasks lost.
func (e *Executor) Cleanup(ctx context.Context) ([]*executor.Handle, error) {
	return e.sweep(ctx, true)
}

// Recoverable returns the handles of this Instance's containers that no
// task of this Executor tracks, running or ended, for Recover: a restarted
// worker follows them again instead of losing them. A container created
// but never started (its executor died between the two) is not among them:
// its task never ran, and Cleanup removes it and reports it.
func (e *Executor) Recoverable(ctx context.Context) ([]*executor.Handle, error) {
	return e.sweep(ctx, false)
}

// sweep lists the untracked containers of this Instance, removing them if
// remove is set.
func (e *Executor) sweep(ctx context.Context, remove bool) ([]*executor.Handle, error) {
	f := make(client.Filters).Add("label", LabelExecutor+"="+e.cfg.Instance)
	res, err := e.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("cleanup: %w", err)
	}
	var (
		found []*executor.Handle
		errs  []error
	)
	for _, c := range res.Items {
		if e.byContainer(c.ID) != nil || kept(c.Names) {
			continue
		}
		h := newHandle(c.Labels[LabelTask], c.ID, time.Unix(c.Created, 0))
		if !remove {
			if c.State != container.StateCreated {
				found = append(found, h)
			}
			continue
		}
		_, err := e.cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		if err != nil && !cerrdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("removing container %.12s: %w", c.ID, err))
			continue
		}
		e.log.InfoContext(ctx, "removed leftover container", "task", c.Labels[LabelTask], "container", shortID(c.ID))
		found = append(found, h)
	}
	if err := errors.Join(errs...); err != nil {
		return found, fmt.Errorf("cleanup: %w", err)
	}
	return found, nil
}

// kept reports whether a container of these names was kept after its task
// ended and was recorded (see LabelKeep): nobody follows it any more.
func kept(names []string) bool {
	for _, n := range names {
		if strings.HasPrefix(strings.TrimPrefix(n, "/"), KeptPrefix) {
			return true
		}
	}
	return false
}
