package session

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// Runner starts the commands of a session's actions (Config.Runner): as
// local subprocesses by default, or elsewhere, such as in a container
// (worker/sessionbox). The session keeps the rest to itself: the stdout
// protocol, redaction, cancelation methods (cancel_info.json included),
// timeouts and results are the same whatever runs the commands.
type Runner interface {
	// Start starts c and returns once it runs. An error means it did not
	// start; its text is the action's failure message.
	Start(c *Command) (Process, error)
}

// Command is an action's command, resolved.
type Command struct {
	// Name and Args are the argv, never passed through a shell. Name is
	// the action's command as written: a Runner looks a name without a
	// slash up in the PATH of Env (or of where it runs the command).
	Name string
	Args []string
	// Env is the action's environment as KEY=value: Config.Env, the
	// session's variables and those of its environments.
	Env []string
	// Dir is the working directory, the session's.
	Dir string
}

// Process is a command a Runner started. Stop may be called from any
// goroutine, concurrently with Wait.
type Process interface {
	// Output is the command's stdout and stderr, merged. The session reads
	// it from the start until EOF, which comes once the command has ended
	// and whatever it left running has closed its output, and closes it
	// when done. If it has a SetReadDeadline method (an *os.File), the
	// session stops logging its output Config.OutputGrace after Wait has
	// returned and drains the rest; otherwise the Runner must end it soon
	// after the command.
	Output() io.ReadCloser
	// Wait waits for the command's end. An error fails the action, as its
	// message: the command could not start (its status may say how it
	// ended, as 127), or its end cannot be known (status code -1).
	Wait() (ExitStatus, error)
	// Stop ends the command: SIGTERM now and SIGKILL, to the command and
	// everything it started, once grace has passed; with grace 0 or less
	// SIGKILL at once. A later call may shorten the grace or do nothing;
	// none after the command's end does anything.
	Stop(grace time.Duration)
	// String names the command in the session's log: "pid 1234".
	String() string
}

// ExitStatus is how a command ended.
type ExitStatus struct {
	// Code is the exit status; -1 if a signal ended the command.
	Code int
	// Signal names the signal that ended it ("SIGKILL"), if one did.
	Signal string
}

// localRunner runs commands as subprocesses of this process, each in a
// process group of its own: the default Runner.
type localRunner struct{}

func (localRunner) Start(c *Command) (Process, error) {
	path, err := lookPath(c.Name, c.Env, c.Dir)
	if err != nil {
		return nil, fmt.Errorf("cannot run %q: %v", c.Name, err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd := &exec.Cmd{
		Path:   path,
		Args:   append([]string{c.Name}, c.Args...),
		Env:    c.Env,
		Dir:    c.Dir,
		Stdout: pw,
		Stderr: pw,
	}
	setProcessGroup(cmd)
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("process failed to start: %v", err)
	}
	pw.Close()
	return &localProcess{cmd: cmd, out: pr}, nil
}

// localProcess is a subprocess started by localRunner.
type localProcess struct {
	cmd *exec.Cmd
	out *os.File

	mu      sync.Mutex
	exited  bool
	stopped bool
	killTmr *time.Timer
}

func (p *localProcess) Output() io.ReadCloser { return p.out }

func (p *localProcess) String() string { return fmt.Sprintf("pid %d", p.cmd.Process.Pid) }

func (p *localProcess) Wait() (ExitStatus, error) {
	werr := p.cmd.Wait()
	p.mu.Lock()
	p.exited = true
	if p.killTmr != nil {
		p.killTmr.Stop()
	}
	stopped := p.stopped
	p.mu.Unlock()
	if stopped {
		// Whatever the command left behind goes with it.
		killGroup(p.cmd)
	}
	var exitErr *exec.ExitError
	switch {
	case werr == nil:
		return ExitStatus{}, nil
	case errors.As(werr, &exitErr):
		return ExitStatus{Code: exitErr.ExitCode(), Signal: exitSignal(exitErr)}, nil
	}
	return ExitStatus{Code: -1}, werr
}

func (p *localProcess) Stop(grace time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return
	}
	p.stopped = true
	if grace <= 0 {
		killGroup(p.cmd)
		return
	}
	if p.killTmr != nil {
		return
	}
	_ = terminate(p.cmd)
	p.killTmr = time.AfterFunc(grace, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.exited {
			killGroup(p.cmd)
		}
	})
}
