package process

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/berth-run/berth/executor"
	"golang.org/x/sys/unix"
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
	path, err := lookPath(s.Command, s.WorkDir, s.Env)
	if err != nil {
		return nil, nil, err
	}
	files, drains, err := childFiles(s.Stdout, s.Stderr)
	if err != nil {
		return nil, nil, err
	}
	fds := make([]uintptr, len(files))
	for i, f := range files {
		fds[i] = f.Fd()
	}
	argv := append([]string{s.Command}, s.Args...)
	pid, err := syscall.ForkExec(path, argv, &syscall.ProcAttr{
		Dir:   s.WorkDir,
		Env:   append([]string{}, s.Env...),
		Files: fds,
		Sys:   e.sysProcAttr(),
	})
	closeFiles(files)
	// Started even when the fork failed: they end at once, the write ends
	// being closed, and close the read ends.
	output := startDrains(drains, func(path string, err error) {
		e.log.Warn("writing the output", "task", s.ID, "path", path, "err", err)
	})
	if err != nil {
		return nil, nil, &exec.Error{Name: s.Command, Err: err}
	}
	// The start time does not change at exec, and a zombie still has it, so
	// reading it before the wait loop runs always finds the process.
	ticks, err := startTicks(pid)
	if err != nil {
		unix.Kill(-pid, unix.SIGKILL)
		unix.Wait4(pid, nil, 0, nil)
		return nil, nil, err
	}
	h := &executor.Handle{ID: s.ID, Driver: Driver, PID: pid, StartTicks: ticks, StartedAt: time.Now()}
	t := newTask(s.ID, pid, e.log)
	t.output = output
	if s.Template.OutputPath != "" || s.Template.ErrorPath != "" {
		t.copies = &copies{stdout: s.Stdout, stderr: s.Stderr, outputPath: s.Template.OutputPath, errorPath: s.Template.ErrorPath}
	}
	go t.watch()
	if err := e.writeState(h); err != nil {
		// Without the file a restarted worker could not find the task.
		t.kill()
		<-t.done
		return nil, nil, err
	}
	e.log.Debug("task started", "task", s.ID, "pid", pid, "command", path)
	return h, t, nil
}

// lookPath finds the executable for command. Names with a slash are used as
// they are (relative to dir); others are looked up in the PATH of env, or the
// executor's own. Relative PATH entries are skipped, as os/exec refuses them.
func lookPath(command, dir string, env []string) (string, error) {
	if command == "" {
		return "", &exec.Error{Name: command, Err: errors.New("empty command")}
	}
	if strings.Contains(command, "/") {
		p := command
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := executable(p); err != nil {
			return "", &exec.Error{Name: command, Err: err}
		}
		return p, nil
	}
	pathEnv, ok := getenv(env, "PATH")
	if !ok {
		pathEnv = os.Getenv("PATH")
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if !filepath.IsAbs(d) {
			continue
		}
		p := filepath.Join(d, command)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", &exec.Error{Name: command, Err: exec.ErrNotFound}
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return &fs.PathError{Op: "exec", Path: path, Err: err}
	}
	return nil
}

// getenv returns the last value of key in env, as the C library would.
func getenv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
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
