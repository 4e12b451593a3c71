package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/internal/timeline"
)

// Start starts the task as the leader of a new process group, with exactly
// s.Env as its environment, stdin from /dev/null and stdout and stderr going
// to s.Stdout and s.Stderr (/dev/null when empty), files created at their
// first byte (see output.go). A command without
// a slash is looked up in the PATH of s.Env, else in the executor's own.
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
	h, t, err := e.start(s)
	if err != nil {
		e.tasks.Unreserve(s.ID)
		return nil, fmt.Errorf("start %s: %w: %w", s.ID, executor.ErrStartFailed, err)
	}
	e.tasks.Put(s.ID, t, false)
	return h, nil
}

func (e *Executor) start(s *executor.Spec) (*executor.Handle, *task, error) {
	if s.WorkDir == "" {
		return nil, nil, errors.New("no working directory")
	}
	if fi, err := os.Stat(s.WorkDir); err != nil {
		return nil, nil, fmt.Errorf("working directory: %w", err)
	} else if !fi.IsDir() {
		return nil, nil, fmt.Errorf("working directory %s is not a directory", s.WorkDir)
	}
	path, cached, err := e.paths.lookPath(s.Command, s.WorkDir, s.Env)
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return nil, nil, &executor.CommandNotFoundError{Command: s.Command}
	}
	if err != nil {
		return nil, nil, err
	}
	var tl *timeline.Writer
	if s.Times != "" {
		if tl, err = timeline.New(s.Times, false); err != nil {
			return nil, nil, fmt.Errorf("output timeline: %w", err)
		}
	}
	ends, drains, err := e.childFiles(s.Stdout, s.Stderr, tl)
	if err != nil {
		tl.Close()
		return nil, nil, err
	}
	argv := append([]string{s.Command}, s.Args...)
	attr := &syscall.ProcAttr{Dir: s.WorkDir, Env: append([]string{}, s.Env...), Files: ends.fds, Sys: e.sysProcAttr()}
	var span bootSpan
	span.begin()
	pid, err := syscall.ForkExec(path, argv, attr)
	if err != nil && cached {
		// The program went or changed since it was looked up.
		e.paths.forget()
		if path, err = lookPath(s.Command, s.WorkDir, s.Env); err == nil {
			span.begin()
			pid, err = syscall.ForkExec(path, argv, attr)
		}
	}
	span.end()
	ends.close()
	// Started even when the fork failed: they end at once, the write ends
	// being closed, and close the read ends.
	outErr := new(outputErrs)
	output := startDrains(drains, tl, func(path string, err error) {
		if path == "" {
			// Only the times are lost, not output.
			e.log.Warn("writing the output", "task", s.ID, "err", err)
			return
		}
		e.log.Warn("writing the output", "task", s.ID, "path", path, "err", err)
		outErr.add(err)
	})
	if err != nil {
		var xe *exec.Error
		if errors.As(err, &xe) {
			return nil, nil, err
		}
		return nil, nil, &exec.Error{Name: s.Command, Err: err}
	}
	ticks, slack := span.ticks()
	p := &procHandle{ID: s.ID, PID: pid, StartTicks: ticks, StartSlack: slack}
	h := newHandle(p, time.Now())
	t := newTask(s.ID, pid, e.log)
	t.output, t.outputErr = output, outErr
	t.direct = directOutputs(drains, s.Stdout, s.Stderr)
	if s.OutputPath != "" || s.ErrorPath != "" {
		t.copies = &copies{stdout: s.Stdout, stderr: s.Stderr, outputPath: s.OutputPath, errorPath: s.ErrorPath}
	}
	go t.watch()
	if err := e.writeState(p); err != nil {
		// Without the file a restarted worker could not find the task.
		t.kill()
		<-t.done
		return nil, nil, err
	}
	e.log.Debug("task started", "task", s.ID, "pid", pid, "command", path)
	return h, t, nil
}

// sysProcAttr puts each task in a process group of its own, and with
// DieWithParent ties its leader's life to this process.
func (e *Executor) sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true}
	if e.dieWithParent {
		a.Pdeathsig = syscall.SIGKILL
	}
	return a
}
