package sessionbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/openjd/session"
)

// execRunner runs each command with Exec in the box's container: with the
// action's environment (on top of the container's) and working directory,
// its output merged into one stream. Stop cancels the exec, which sends
// SIGTERM to the command's process group in the container, then SIGKILL
// after the grace (SIGKILL alone for a grace of 0).
type execRunner struct{ b *Box }

func (r execRunner) Start(c *session.Command) (session.Process, error) {
	r.b.mu.Lock()
	closed := r.b.closed
	r.b.mu.Unlock()
	if closed {
		return nil, errors.New("the session's container is removed")
	}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	p := &execProcess{
		b:      r.b,
		out:    pr,
		cancel: cancel,
		done:   make(chan struct{}),
		spec: &executor.ExecSpec{
			Command: c.Name, Args: c.Args, Env: c.Env, WorkDir: c.Dir,
			Stdout: pw, Stderr: pw,
		},
	}
	go func() {
		defer close(p.done)
		defer cancel()
		p.exit, p.err = r.b.e.Exec(ctx, r.b.id, p.spec)
		pw.Close()
	}()
	return p, nil
}

// execProcess is a command run in the container.
type execProcess struct {
	b      *Box
	out    *io.PipeReader
	spec   *executor.ExecSpec
	cancel context.CancelFunc
	done   chan struct{}
	// exit and err are Exec's, set before done closes.
	exit *executor.Exit
	err  error

	mu      sync.Mutex
	stopped bool
}

func (p *execProcess) Output() io.ReadCloser { return p.out }

func (p *execProcess) String() string {
	return fmt.Sprintf("exec in container %.12s", p.b.ContainerID())
}

func (p *execProcess) Wait() (session.ExitStatus, error) {
	<-p.done
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	err := p.err
	if stopped && errors.Is(err, context.Canceled) && p.exit != nil {
		err = nil // our own Stop, which the exit says the result of
	}
	if p.exit == nil {
		if err == nil {
			err = errors.New("the command's end is unknown")
		}
		return session.ExitStatus{Code: -1}, err
	}
	return session.ExitStatus{Code: p.exit.ExitCode, Signal: p.exit.Signal}, err
}

// Stop cancels the exec. The grace is read by Exec once the context is
// canceled (after this write): a later Stop cannot change it.
func (p *execProcess) Stop(grace time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	p.stopped = true
	if grace <= 0 {
		grace = -1 // SIGKILL alone
	}
	p.spec.Grace = grace
	p.cancel()
}
