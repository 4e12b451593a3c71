package docker

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// execOut runs argv in task id and returns its exit and output.
func execOut(t *testing.T, e *Executor, id string, c *executor.ExecSpec) (*executor.Exit, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	c.Stdout, c.Stderr = &out, &errOut
	x, err := e.Exec(context.Background(), id, c)
	require.NoError(t, err)
	return x, out.String(), errOut.String()
}

func sh(script string) *executor.ExecSpec {
	return &executor.ExecSpec{Command: "sh", Args: []string{"-c", script}}
}

// startSession starts a task that only waits, as a session's container.
func startSession(t *testing.T, tb *testBundle, id string) *executor.Spec {
	t.Helper()
	s := tb.spec(id, nil, "sleep", "1000")
	s.Env = append(s.Env, "TASKVAR=task")
	s.WorkDir = "/srv/session"
	tb.start(t, s)
	return s
}

// TestExec runs commands in a running task's container: exit codes,
// output to writers and to a file, the environment, the working directory,
// several in sequence; and refuses an ended task.
func TestExec(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	startSession(t, tb, "s")

	x, out, errOut := execOut(t, tb.exec, "s", sh("echo out; echo err >&2; exit 3"))
	require.Equal(t, 3, x.ExitCode)
	require.Empty(t, x.Signal)
	require.Equal(t, "out\n", out)
	require.Equal(t, "err\n", errOut)
	require.False(t, x.Finished.IsZero())

	c := sh(`echo "$TASKVAR $EXECVAR $PATH"; pwd`)
	c.Env = []string{"EXECVAR=exec"}
	x, out, _ = execOut(t, tb.exec, "s", c)
	require.Equal(t, 0, x.ExitCode)
	require.Equal(t, "task exec /bin\n/srv/session\n", out, "the task's environment and working directory, and the command's")
	c = sh("pwd")
	c.WorkDir = "/tmp"
	_, out, _ = execOut(t, tb.exec, "s", c)
	require.Equal(t, "/tmp\n", out)

	f, err := os.Create(filepath.Join(tb.dir, "exec.out"))
	require.NoError(t, err)
	x, err = tb.exec.Exec(context.Background(), "s", &executor.ExecSpec{Command: "seq", Args: []string{"1", "20000"}, Stdout: f})
	require.NoError(t, err)
	require.Equal(t, 0, x.ExitCode)
	require.NoError(t, f.Close())
	require.Equal(t, seqText(1, 20000), readFile(t, f.Name()))

	for i := range 20 {
		x, out, _ := execOut(t, tb.exec, "s", sh(fmt.Sprintf("echo %d; exit %d", i, i)))
		require.Equal(t, i, x.ExitCode)
		require.Equal(t, fmt.Sprintf("%d\n", i), out)
	}

	var msg bytes.Buffer
	x, err = tb.exec.Exec(context.Background(), "s", &executor.ExecSpec{Command: "/no/such/program", Stdout: &msg})
	require.ErrorIs(t, err, executor.ErrStartFailed)
	require.Equal(t, 126, x.ExitCode)
	require.Contains(t, msg.String(), "/no/such/program", "the engine's message")
	_, err = tb.exec.Exec(context.Background(), "s", &executor.ExecSpec{Command: "pwd", WorkDir: "/no/such/dir"})
	require.ErrorIs(t, err, executor.ErrStartFailed)
	x, _, _ = execOut(t, tb.exec, "s", sh("exit 126"))
	require.Equal(t, 126, x.ExitCode, "a command's own 126 is no start failure")
	_, err = tb.exec.Exec(context.Background(), "nosuch", sh("true"))
	require.ErrorIs(t, err, executor.ErrNotFound)

	require.NoError(t, tb.exec.Stop(context.Background(), "s", 0))
	tb.wait(t, "s", 30*time.Second)
	_, err = tb.exec.Exec(context.Background(), "s", sh("true"))
	require.ErrorIs(t, err, executor.ErrNotRunning)
}

// TestExecConcurrent runs several commands at once in one container.
func TestExecConcurrent(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	startSession(t, tb, "s")
	const n = 8
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := sh(`echo "start $N"; while [ ! -e /tmp/go ]; do sleep 0.01; done; echo "end $N" >&2; exit $N`)
			c.Env = []string{fmt.Sprintf("N=%d", i)}
			var out, errOut bytes.Buffer
			c.Stdout, c.Stderr = &out, &errOut
			x, err := tb.exec.Exec(context.Background(), "s", c)
			if !assertNoError(t, err) {
				return
			}
			require.Equal(t, i, x.ExitCode)
			require.Equal(t, fmt.Sprintf("start %d\n", i), out.String())
			require.Equal(t, fmt.Sprintf("end %d\n", i), errOut.String())
		})
	}
	// All run at once: each waits for the file, made once all have started.
	require.Eventually(t, func() bool {
		_, out, _ := execOut(t, tb.exec, "s", sh(`ps -o args | grep -c '^sh -c echo "start'`))
		return strings.TrimSpace(out) == fmt.Sprint(n)
	}, 60*time.Second, 50*time.Millisecond)
	execOut(t, tb.exec, "s", sh("touch /tmp/go"))
	wg.Wait()
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

// gone reports, from inside the container, whether the processes whose
// IDs the file at path holds are gone (or zombies, which the container's
// first process, sleep, does not reap).
func gone(t *testing.T, e *Executor, id, path string) bool {
	t.Helper()
	x, out, _ := execOut(t, e, id, sh(`for p in $(cat `+path+`); do
		[ ! -e /proc/$p ] || grep -q ') Z ' /proc/$p/stat || { echo $p lives; exit 1; }
	done`))
	if x.ExitCode != 0 {
		t.Log(out)
	}
	return x.ExitCode == 0
}

// runCanceled runs c in the background and cancels it once the file at
// ready exists in the container; it returns Exec's exit and error.
func runCanceled(t *testing.T, e *Executor, id string, c *executor.ExecSpec, ready string) (*executor.Exit, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		x   *executor.Exit
		err error
	}
	res := make(chan result, 1)
	go func() {
		x, err := e.Exec(ctx, id, c)
		res <- result{x, err}
	}()
	require.Eventually(t, func() bool {
		x, _, _ := execOut(t, e, id, sh("test -s "+ready))
		return x.ExitCode == 0
	}, 30*time.Second, 20*time.Millisecond)
	cancel()
	r := <-res
	return r.x, r.err
}

// TestExecCancel cancels commands: one that ends at SIGTERM, and one that
// ignores it, with a child, killed after the grace; their processes are
// gone from the container, which runs on.
func TestExecCancel(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	startSession(t, tb, "s")

	x, err := runCanceled(t, tb.exec, "s", sh("echo $$ > /tmp/term.pid; exec sleep 1000"), "/tmp/term.pid")
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, "SIGTERM", x.Signal)
	require.Equal(t, -1, x.ExitCode)
	require.True(t, gone(t, tb.exec, "s", "/tmp/term.pid"))

	c := sh(`trap "" TERM; sleep 1001 & echo $$ $! > /tmp/kill.pid; wait`)
	c.Grace = 200 * time.Millisecond
	x, err = runCanceled(t, tb.exec, "s", c, "/tmp/kill.pid")
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, "SIGKILL", x.Signal)
	require.True(t, gone(t, tb.exec, "s", "/tmp/kill.pid"), "the command and its child are killed")

	st, err := tb.exec.Inspect(context.Background(), "s")
	require.NoError(t, err)
	require.Nil(t, st.Exit, "the task runs on")
}

// TestExecKill: a negative grace kills the command at once, without
// SIGTERM.
func TestExecKill(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	startSession(t, tb, "s")
	c := sh("echo $$ > /tmp/k.pid; exec sleep 1000")
	c.Grace = -1
	x, err := runCanceled(t, tb.exec, "s", c, "/tmp/k.pid")
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, "SIGKILL", x.Signal)
	require.True(t, gone(t, tb.exec, "s", "/tmp/k.pid"))
}

// TestExecTimeout: a command whose context has a deadline is stopped at it.
func TestExecTimeout(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	startSession(t, tb, "s")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	x, err := tb.exec.Exec(ctx, "s", sh("echo $$ > /tmp/t.pid; exec sleep 1000"))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, "SIGTERM", x.Signal)
	require.True(t, gone(t, tb.exec, "s", "/tmp/t.pid"))
}

// TestExecCancelInside cancels a command with the signals sent from
// inside the container, as when the worker may not signal it itself.
func TestExecCancelInside(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	tb.exec.hostKill = func(int, unix.Signal) error { return unix.EPERM }
	startSession(t, tb, "s")
	c := sh(`trap "" TERM; sleep 1001 & echo $$ $! > /tmp/kill.pid; wait`)
	c.Grace = 200 * time.Millisecond
	x, err := runCanceled(t, tb.exec, "s", c, "/tmp/kill.pid")
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, "SIGKILL", x.Signal)
	require.True(t, gone(t, tb.exec, "s", "/tmp/kill.pid"))
}

// TestWorkDir: Spec.WorkDir is the container's working directory (created
// if missing); empty leaves the image's.
func TestWorkDir(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	s := tb.spec("wd", nil, "pwd")
	s.WorkDir = "/srv/work"
	tb.start(t, s)
	require.Equal(t, 0, tb.wait(t, "wd", 30*time.Second).ExitCode)
	require.Equal(t, "/srv/work\n", readFile(t, s.Stdout))
	d := tb.spec("default", nil, "pwd")
	tb.start(t, d)
	require.Equal(t, 0, tb.wait(t, "default", 30*time.Second).ExitCode)
	require.Equal(t, "/\n", readFile(t, d.Stdout))
}
