package docker

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/berth-run/berth/executor"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	"golang.org/x/sys/unix"
)

// Commands run in a task's container (executor.Execer)
//
// Exec runs a command with the Engine API's exec: create, then start with
// the output attached (demultiplexed into the caller's writers), then
// inspect for the exit code once the stream has ended (the engine ends it
// at most 2 s after the command's exit, even if a child it left behind
// holds its output open).
//
// The API cannot signal an exec'd command, so cancelation goes around it.
// The command is the leader of a process group of its own (the runtime
// starts it in a new session); its process ID on the engine's host is in
// the exec's inspect. When that process is on this host, in the task's
// container (its cgroup names the container), the group is signalled from
// here; if this process may not (a worker that is not root, a container
// user that is not its own), a `kill -s SIG -PGID` is run in the container
// as the container's user (the image needs a kill program taking that
// form, as busybox's does). With an engine on another host there is no
// way: Exec then stops following the command, which may run on, and says
// so in its error.

// execKillWait bounds the wait for the end of a command after its SIGKILL.
const execKillWait = 30 * time.Second

// Exec runs c in task id's container and returns its exit (see
// executor.Execer). An ended task, or one whose container is paused or
// gone, gives an error wrapping executor.ErrNotRunning.
func (e *Executor) Exec(ctx context.Context, id string, c *executor.ExecSpec) (*executor.Exit, error) {
	t, err := e.get(id)
	if err != nil {
		return nil, err
	}
	if c.Command == "" {
		return nil, fmt.Errorf("exec in %s: no command", id)
	}
	if t.exited() != nil {
		return nil, fmt.Errorf("exec in %s: %w", id, executor.ErrNotRunning)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("exec in %s: %w", id, err)
	}
	created, err := e.cli.ExecCreate(ctx, t.containerID, client.ExecCreateOptions{
		Cmd: append([]string{c.Command}, c.Args...), Env: c.Env, WorkingDir: c.WorkDir,
		AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) { // gone, stopped or paused
			return nil, fmt.Errorf("exec in %s: %w: %w", id, executor.ErrNotRunning, err)
		}
		return nil, fmt.Errorf("exec in %s: %w", id, err)
	}
	x := &execution{e: e, t: t, id: created.ID}
	exit, err := x.run(ctx, c)
	if err != nil {
		return exit, fmt.Errorf("exec in %s: %w", id, err)
	}
	return exit, nil
}

// execution is one command run in a container.
type execution struct {
	e  *Executor
	t  *task
	id string // the engine's exec ID
	// sent records the signals sent to the command.
	sent map[unix.Signal]bool
}

// run starts the exec, copies its output until it ends, and returns its
// exit. If ctx ends first it cancels the command (see cancel) and returns
// its exit with ctx's error.
func (x *execution) run(ctx context.Context, c *executor.ExecSpec) (*executor.Exit, error) {
	// The stream is not tied to ctx: after a cancelation it carries the
	// output until the command has ended.
	res, err := x.e.cli.ExecAttach(context.WithoutCancel(ctx), x.id, client.ExecAttachOptions{})
	if err != nil {
		if cerrdefs.IsNotFound(err) || cerrdefs.IsConflict(err) {
			return nil, fmt.Errorf("starting: %w: %w", executor.ErrNotRunning, err)
		}
		return nil, fmt.Errorf("starting: %w", err)
	}
	var copyErr error
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, copyErr = stdcopy.StdCopy(orDiscard(c.Stdout), orDiscard(c.Stderr), res.Reader)
	}()
	defer func() {
		res.Close()
		<-copied // no write to the caller's writers after the return
	}()
	var cause error
	select {
	case <-copied:
		err = copyErr
	case <-ctx.Done():
		cause = ctx.Err()
		if err = x.cancel(cmp.Or(c.Grace, executor.ExecGraceDefault), copied); err == nil {
			err = copyErr
		}
	case <-x.e.ctx.Done():
		return nil, errors.New("the executor is closing")
	}
	if err != nil {
		if cause == nil {
			return nil, fmt.Errorf("reading the output: %w", err)
		}
		return nil, errors.Join(cause, err)
	}
	exit, err := x.exit()
	if err != nil {
		return exit, errors.Join(cause, err)
	}
	return exit, cause
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// exit inspects the ended exec for its exit. The engine marks the exec
// ended before it closes the stream; should it lag, it is asked again.
func (x *execution) exit() (*executor.Exit, error) {
	ctx := x.e.ctx
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		ins, err := x.e.cli.ExecInspect(ctx, x.id, client.ExecInspectOptions{})
		if err != nil {
			return nil, fmt.Errorf("inspecting the exec: %w", err)
		}
		if !ins.Running {
			exit := &executor.Exit{ExitCode: ins.ExitCode, Finished: time.Now()}
			if ins.PID == 0 { // the runtime could not start it (126)
				return exit, fmt.Errorf("%w: the engine started no process (its message is in the output)", executor.ErrStartFailed)
			}
			if sig := unix.Signal(ins.ExitCode - 128); ins.ExitCode > 128 && x.sent[sig] {
				exit.ExitCode, exit.Signal = -1, unix.SignalName(sig)
			}
			return exit, nil
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// cancel sends SIGTERM to the command's process group, and SIGKILL after
// grace unless the output stream (which the engine ends after the command's
// exit) has ended (copied is closed); a negative grace sends SIGKILL alone.
// It returns once the stream has ended, or with an error when the command
// could not be signalled or outlives its SIGKILL.
func (x *execution) cancel(grace time.Duration, copied <-chan struct{}) error {
	timer := time.NewTimer(max(grace, 0))
	defer timer.Stop()
	if grace >= 0 {
		if err := x.signal(unix.SIGTERM); err != nil {
			return err
		}
		select {
		case <-copied:
			return nil
		case <-timer.C:
		case <-x.e.ctx.Done():
			return errors.New("the executor is closing")
		}
	}
	if err := x.signal(unix.SIGKILL); err != nil {
		return err
	}
	timer.Reset(execKillWait)
	select {
	case <-copied:
		return nil
	case <-timer.C:
		return fmt.Errorf("the command did not end within %s of its SIGKILL", execKillWait)
	case <-x.e.ctx.Done():
		return errors.New("the executor is closing")
	}
}

// signal sends sig to the command's process group (see the top of the
// file); nothing if the command has ended.
func (x *execution) signal(sig unix.Signal) error {
	ctx, cancel := context.WithTimeout(x.e.ctx, 30*time.Second)
	defer cancel()
	ins, err := x.e.cli.ExecInspect(ctx, x.id, client.ExecInspectOptions{})
	// The engine records the process ID only once the runtime's start has
	// returned, after the command may have written its first output: a
	// cancel right after it finds the exec running with PID 0 for a moment.
	for delay := time.Millisecond; err == nil && ins.Running && ins.PID == 0; delay = min(2*delay, 100*time.Millisecond) {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return fmt.Errorf("signalling the command: %w", ctx.Err())
		}
		ins, err = x.e.cli.ExecInspect(ctx, x.id, client.ExecInspectOptions{})
	}
	if err != nil {
		return fmt.Errorf("signalling the command: %w", err)
	}
	if !ins.Running {
		return nil
	}
	if ins.PID <= 1 { // kill(-1) would signal every process
		return fmt.Errorf("cannot signal the command, which may run on: the engine reports process ID %d", ins.PID)
	}
	if x.sent == nil {
		x.sent = map[unix.Signal]bool{}
	}
	x.sent[sig] = true
	nspid, err := containerPID(ins.PID, x.t.containerID)
	if err != nil {
		return fmt.Errorf("cannot signal the command, which may run on: %w", err)
	}
	err = x.e.hostKill(-ins.PID, sig)
	if err == nil || errors.Is(err, unix.ESRCH) {
		return nil
	}
	if !errors.Is(err, unix.EPERM) {
		return fmt.Errorf("signalling the command's process group %d: %w", ins.PID, err)
	}
	// Not allowed from here: from inside, as the container's user.
	if kerr := x.killInside(ctx, sig, nspid); kerr != nil {
		return fmt.Errorf("signalling the command: %w; from inside the container: %w", err, kerr)
	}
	return nil
}

// killInside runs `kill -s SIG -PGID` in the container.
func (x *execution) killInside(ctx context.Context, sig unix.Signal, pgid int) error {
	name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
	created, err := x.e.cli.ExecCreate(ctx, x.t.containerID, client.ExecCreateOptions{
		Cmd: []string{"kill", "-s", name, "-" + strconv.Itoa(pgid)}, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return err
	}
	res, err := x.e.cli.ExecAttach(ctx, created.ID, client.ExecAttachOptions{})
	if err != nil {
		return err
	}
	var out bytes.Buffer
	_, err = stdcopy.StdCopy(&out, &out, res.Reader)
	res.Close()
	if err != nil {
		return err
	}
	k := &execution{e: x.e, t: x.t, id: created.ID}
	exit, err := k.exit()
	if err != nil {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(out.String()))
	}
	if exit.ExitCode != 0 {
		return fmt.Errorf("kill exited %d: %s", exit.ExitCode, strings.TrimSpace(out.String()))
	}
	return nil
}

// containerPID returns the process ID, in its container's PID namespace,
// of the process pid of this host, after checking that it is in container
// cid (its cgroup names it): with an engine on another host, pid names some
// process here.
func containerPID(pid int, cid string) (int, error) {
	cg, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return 0, fmt.Errorf("process %d is not on this host: %w", pid, err)
	}
	if !bytes.Contains(cg, []byte(cid)) {
		return 0, fmt.Errorf("process %d of this host is not in container %.12s (is the engine on another host?)", pid, cid)
	}
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(st)) {
		if rest, ok := strings.CutPrefix(line, "NSpid:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.Atoi(f[len(f)-1])
			}
		}
	}
	return 0, fmt.Errorf("process %d: no NSpid in its status", pid)
}
