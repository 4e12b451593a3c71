package daemon

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/berth-run/berth/executor/process"
	"github.com/berth-run/berth/internal/datadir"
)

// ReaperSubcommand is the hidden command of the berth executable that runs
// the local worker's reaper (see the package doc): `berth local-reaper --
// WORKER-ARGV...`.
const ReaperSubcommand = "local-reaper"

// RunReaper runs the local worker argv as the child of this process, which
// reaps it and the tasks it leaves when it dies, noting their exits for the
// next local worker (process.Reap). It returns once it has no child left.
// The worker lock handed down as fd 3 is passed on; this process keeps no
// copy, so that the server learns of the worker's death at once.
func RunReaper(dir datadir.Dir, argv []string, log *slog.Logger) error {
	if len(argv) == 0 {
		return errors.New("local-reaper: the worker's command is required")
	}
	// Signals meant for the server's session do not end the reaper early:
	// it ends when its children do. Caught, not ignored, so that the worker
	// does not inherit an ignored SIGTERM.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	var lock *os.File
	if fd, err := strconv.Atoi(os.Getenv("BERTH_WORKER_LOCK_FD")); err == nil && fd > 2 {
		lock = os.NewFile(uintptr(fd), dir.WorkerLock())
	}
	return process.Reap(dir.WorkerTasks(), dir.WorkerExits(), func() (int, error) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if lock != nil {
			cmd.ExtraFiles = []*os.File{lock}
			defer lock.Close()
		}
		// A group of its own: a signal to the worker's group spares the reaper.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			return 0, fmt.Errorf("starting the local worker: %w", err)
		}
		log.Info("local worker started under its reaper", "pid", cmd.Process.Pid, "reaper", os.Getpid())
		return cmd.Process.Pid, nil
	}, log)
}
