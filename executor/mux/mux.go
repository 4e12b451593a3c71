// Package mux routes tasks to one of several executors: a task with a
// container (Spec.Container) goes to the container executor, any other to
// the process executor. A worker drives one mux as if it were one executor;
// it has every ability of package executor, and returns
// executor.ErrNotSupported where the task's executor lacks one.
package mux

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/executor/process"
)

// Executor routes each task to Process or Containers and remembers which.
type Executor struct {
	process executor.Executor
	// containers is made on first use, so that a worker without Docker
	// still runs process tasks, and a Docker daemon started later is found.
	newContainers func(context.Context) (executor.Executor, error)

	mu         sync.Mutex
	containers executor.Executor
	owner      map[string]executor.Executor // task ID → its executor
}

var (
	_ executor.Executor      = (*Executor)(nil)
	_ executor.Recoverer     = (*Executor)(nil)
	_ executor.Cleaner       = (*Executor)(nil)
	_ executor.StateNotifier = (*Executor)(nil)
	_ executor.Execer        = (*Executor)(nil)
	_ executor.Signaler      = (*Executor)(nil)
)

// New returns a mux over a process executor and a function that makes the
// container executor when the first container task comes (nil: none).
func New(process executor.Executor, newContainers func(context.Context) (executor.Executor, error)) *Executor {
	return &Executor{process: process, newContainers: newContainers, owner: map[string]executor.Executor{}}
}

func (m *Executor) containerExecutor(ctx context.Context) (executor.Executor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.containers != nil {
		return m.containers, nil
	}
	if m.newContainers == nil {
		return nil, errors.New("this worker runs no containers")
	}
	c, err := m.newContainers(ctx)
	if err != nil {
		return nil, fmt.Errorf("the container engine is not available: %w", err)
	}
	m.containers = c
	return c, nil
}

// Start starts the task on the executor its spec calls for.
func (m *Executor) Start(ctx context.Context, s *executor.Spec) (*executor.Handle, error) {
	ex := m.process
	if s.Container != nil {
		c, err := m.containerExecutor(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", executor.ErrStartFailed, err)
		}
		ex = c
	}
	h, err := ex.Start(ctx, s)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.owner[s.ID] = ex
	m.mu.Unlock()
	return h, nil
}

func (m *Executor) of(id string) (executor.Executor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ex, ok := m.owner[id]; ok {
		return ex, nil
	}
	return nil, fmt.Errorf("%w: %s", executor.ErrNotFound, id)
}

// Wait waits on the task's executor.
func (m *Executor) Wait(ctx context.Context, id string) (<-chan *executor.Exit, error) {
	ex, err := m.of(id)
	if err != nil {
		return nil, err
	}
	return ex.Wait(ctx, id)
}

// Suspend suspends the task.
func (m *Executor) Suspend(ctx context.Context, id string) error {
	ex, err := m.of(id)
	if err != nil {
		return err
	}
	return ex.Suspend(ctx, id)
}

// Resume resumes the task.
func (m *Executor) Resume(ctx context.Context, id string) error {
	ex, err := m.of(id)
	if err != nil {
		return err
	}
	return ex.Resume(ctx, id)
}

// Stop stops the task.
func (m *Executor) Stop(ctx context.Context, id string, grace time.Duration) error {
	ex, err := m.of(id)
	if err != nil {
		return err
	}
	return ex.Stop(ctx, id, grace)
}

// StopSignal is Stop that sends sig first, where the task's executor can;
// else it returns an error wrapping executor.ErrNotSupported.
func (m *Executor) StopSignal(ctx context.Context, id, sig string, grace time.Duration) error {
	ex, err := m.of(id)
	if err != nil {
		return err
	}
	s, ok := ex.(executor.Signaler)
	if !ok {
		return fmt.Errorf("stop %s with %s: %w", id, sig, executor.ErrNotSupported)
	}
	return s.StopSignal(ctx, id, sig, grace)
}

// Inspect inspects the task.
func (m *Executor) Inspect(ctx context.Context, id string) (*executor.Status, error) {
	ex, err := m.of(id)
	if err != nil {
		return nil, err
	}
	return ex.Inspect(ctx, id)
}

// Destroy destroys the task and forgets which executor ran it.
func (m *Executor) Destroy(ctx context.Context, id string, force bool) error {
	ex, err := m.of(id)
	if err != nil {
		return err
	}
	if err := ex.Destroy(ctx, id, force); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.owner, id)
	m.mu.Unlock()
	return nil
}

// Recover hands the handle to the executor that made it: the process
// executor's (process.Driver), else the container executor's.
func (m *Executor) Recover(ctx context.Context, h *executor.Handle) error {
	ex := m.process
	if h.Driver != process.Driver {
		c, err := m.containerExecutor(ctx)
		if err != nil {
			return fmt.Errorf("%w: %v", executor.ErrNotRecoverable, err)
		}
		ex = c
	}
	r, ok := ex.(executor.Recoverer)
	if !ok {
		return fmt.Errorf("recover %s: %w: %w", h.ID, executor.ErrNotRecoverable, executor.ErrNotSupported)
	}
	if err := r.Recover(ctx, h); err != nil {
		return err
	}
	m.mu.Lock()
	m.owner[h.ID] = ex
	m.mu.Unlock()
	return nil
}

// Recoverable returns what an earlier instance left running that can be
// followed again: the process executor's (those a reaper has, see
// executor/process) and the container executor's, if the engine answers.
func (m *Executor) Recoverable(ctx context.Context) ([]*executor.Handle, error) {
	var all []*executor.Handle
	var errs []error
	if r, ok := m.process.(executor.Recoverer); ok {
		hs, err := r.Recoverable(ctx)
		all, errs = append(all, hs...), append(errs, err)
	}
	if m.newContainers != nil {
		if c, err := m.containerExecutor(ctx); err == nil { // no engine: nothing to follow
			if r, ok := c.(executor.Recoverer); ok {
				hs, err := r.Recoverable(ctx)
				all, errs = append(all, hs...), append(errs, err)
			}
		}
	}
	return all, errors.Join(errs...)
}

// Cleanup cleans up after an earlier instance in every executor that can:
// the process executor always, the container executor if the engine answers.
func (m *Executor) Cleanup(ctx context.Context) ([]*executor.Handle, error) {
	var all []*executor.Handle
	var errs []error
	exs := []executor.Executor{m.process}
	if m.newContainers != nil {
		if c, err := m.containerExecutor(ctx); err == nil {
			exs = append(exs, c)
		}
	}
	for _, ex := range exs {
		if c, ok := ex.(executor.Cleaner); ok {
			hs, err := c.Cleanup(ctx)
			all = append(all, hs...)
			errs = append(errs, err)
		}
	}
	return all, errors.Join(errs...)
}

// Changes follows the state changes the task's executor makes on its own
// (see executor.StateNotifier); for an executor that makes none, the
// channel is closed at once.
func (m *Executor) Changes(ctx context.Context, id string) (<-chan executor.Status, error) {
	ex, err := m.of(id)
	if err != nil {
		return nil, err
	}
	if n, ok := ex.(executor.StateNotifier); ok {
		return n.Changes(ctx, id)
	}
	ch := make(chan executor.Status)
	close(ch)
	return ch, nil
}

// Exec runs c in the task through its executor, if that is an
// executor.Execer; else it returns an error wrapping
// executor.ErrNotSupported.
func (m *Executor) Exec(ctx context.Context, id string, c *executor.ExecSpec) (*executor.Exit, error) {
	ex, err := m.of(id)
	if err != nil {
		return nil, err
	}
	x, ok := ex.(executor.Execer)
	if !ok {
		return nil, fmt.Errorf("exec in %s: %w", id, executor.ErrNotSupported)
	}
	return x.Exec(ctx, id, c)
}
