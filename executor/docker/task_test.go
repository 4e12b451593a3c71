package docker

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

// TestExitCodes checks Done for exit 0 and Failed with the code otherwise.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	for _, code := range []int{0, 1, 7, 255} {
		id := fmt.Sprintf("exit%d", code)
		tb.start(t, tb.spec(id, nil, "sh", "-c", "exit "+strconv.Itoa(code)))
	}
	for _, code := range []int{0, 1, 7, 255} {
		id := fmt.Sprintf("exit%d", code)
		x := tb.wait(t, id, 20*time.Second)
		require.NoError(t, x.Err)
		require.Equal(t, code, x.ExitCode)
		require.Empty(t, x.Signal)
		require.False(t, x.Finished.IsZero())
		st, err := tb.exec.Inspect(context.Background(), id)
		require.NoError(t, err)
		want := job.Failed
		if code == 0 {
			want = job.Done
		}
		require.Equal(t, want, st.State)
		require.NoError(t, tb.exec.Destroy(context.Background(), id, false))
	}
}

// seqText is what busybox `seq from to` prints.
func seqText(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestOutputLarge checks that stdout and stderr, written at once, arrive
// separate and complete: 50 MB each, one line per write (6.5 million
// writes per stream, each a message of the engine's log), compared by
// checksum; and that bytes that are not UTF-8 survive. On this machine's
// engine (20.10, fuse-overlayfs, 2 cores) it takes about 15 s, as long as
// `docker run` of the same command; the engine's own handling of the
// 13 million log messages is most of it.
func TestOutputLarge(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("moves 100 MB through the engine (about 20 s); make test runs it")
	}
	tb := setup(t, Config{})
	const n = 6_500_000 // seq 1..n is 50.9 MB
	s := tb.spec("big", nil, "sh", "-c", fmt.Sprintf("seq 1 %d & seq 2 %d >&2; wait; printf '\\000\\377\\200end' >&2", n, n+1))
	start := time.Now()
	tb.start(t, s)
	x := tb.wait(t, "big", 180*time.Second)
	t.Logf("50 MB per stream in %s", time.Since(start))
	require.Equal(t, 0, x.ExitCode)
	out, err := os.ReadFile(s.Stdout)
	require.NoError(t, err)
	errb, err := os.ReadFile(s.Stderr)
	require.NoError(t, err)
	want := seqText(1, n)
	require.Greater(t, len(want), 50_000_000)
	require.Equal(t, sha256.Sum256([]byte(want)), sha256.Sum256(out), "stdout: %d bytes, want %d", len(out), len(want))
	wantErr := seqText(2, n+1) + "\x00\xff\x80end"
	require.Equal(t, sha256.Sum256([]byte(wantErr)), sha256.Sum256(errb), "stderr: %d bytes, want %d", len(errb), len(wantErr))
	require.NoError(t, tb.exec.Destroy(context.Background(), "big", false))
}

// TestOutputLimit checks that output past the cap is dropped and the marker
// line ends the file.
func TestOutputLimit(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{OutputLimit: 1000})
	s := tb.spec("cap", nil, "sh", "-c", "seq 1 10000; echo small >&2")
	tb.start(t, s)
	x := tb.wait(t, "cap", 20*time.Second)
	require.Equal(t, 0, x.ExitCode)
	want := seqText(1, 10000)[:1000]
	if !strings.HasSuffix(want, "\n") {
		want += "\n"
	}
	require.Equal(t, want+"[berth: output truncated at 1000 bytes]\n", readFile(t, s.Stdout))
	require.Equal(t, "small\n", readFile(t, s.Stderr))
	require.NoError(t, tb.exec.Destroy(context.Background(), "cap", false))
}

// TestOOM checks that a task over its memory limit ends OOMKilled.
func TestOOM(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	tb.start(t, tb.spec("oom", map[string]string{"memory": "16m", "memory-swap": "16m"}, "tail", "/dev/zero"))
	x := tb.wait(t, "oom", 30*time.Second)
	require.True(t, x.OOMKilled, "%+v", x)
	require.Equal(t, "SIGKILL", x.Signal)
	require.Equal(t, -1, x.ExitCode)
	st, err := tb.exec.Inspect(context.Background(), "oom")
	require.NoError(t, err)
	require.Equal(t, job.Failed, st.State)
	require.NoError(t, tb.exec.Destroy(context.Background(), "oom", false))
}

// TestSuspendResume checks that a paused task is Suspended and makes no
// progress (its output stops growing), and runs on after Resume.
func TestSuspendResume(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	ctx := context.Background()
	s := tb.spec("pause", nil, "sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); usleep 20000; done")
	tb.start(t, s)
	size := func() int64 {
		fi, err := os.Stat(s.Stdout)
		require.NoError(t, err)
		return fi.Size()
	}
	require.Eventually(t, func() bool { return size() > 0 }, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, tb.exec.Suspend(ctx, "pause"))
	st, err := tb.exec.Inspect(ctx, "pause")
	require.NoError(t, err)
	require.Equal(t, job.Suspended, st.State)
	require.NoError(t, tb.exec.Suspend(ctx, "pause")) // again: nothing to do
	time.Sleep(300 * time.Millisecond)                // let the log stream drain
	before := size()
	time.Sleep(700 * time.Millisecond)
	require.Equal(t, before, size(), "output grew while suspended")

	require.NoError(t, tb.exec.Resume(ctx, "pause"))
	st, err = tb.exec.Inspect(ctx, "pause")
	require.NoError(t, err)
	require.Equal(t, job.Running, st.State)
	require.Eventually(t, func() bool { return size() > before }, 10*time.Second, 10*time.Millisecond)

	// Stop a suspended task: it cannot handle SIGTERM, so SIGKILL ends it.
	require.NoError(t, tb.exec.Suspend(ctx, "pause"))
	require.NoError(t, tb.exec.Stop(ctx, "pause", 0))
	x := tb.wait(t, "pause", 20*time.Second)
	require.Equal(t, "SIGKILL", x.Signal)
	require.ErrorIs(t, tb.exec.Suspend(ctx, "pause"), executor.ErrNotRunning)
	require.ErrorIs(t, tb.exec.Resume(ctx, "pause"), executor.ErrNotRunning)
	require.ErrorIs(t, tb.exec.Stop(ctx, "pause", 0), executor.ErrNotRunning)
	require.NoError(t, tb.exec.Destroy(ctx, "pause", false))
}

// TestStop checks Stop's signals: SIGTERM, which a task may handle (here it
// exits 3), then SIGKILL after grace for one that ignores it (PID 1 without
// a handler does).
func TestStop(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	ctx := context.Background()
	tb.start(t, tb.spec("ignore", nil, "sleep", "100"))
	s := tb.spec("handle", nil, "sh", "-c", "trap 'echo term; exit 3' TERM; echo ready; while true; do usleep 10000; done")
	tb.start(t, s)
	require.Eventually(t, func() bool { return readFile(t, s.Stdout) == "ready\n" }, 10*time.Second, 10*time.Millisecond)

	start := time.Now()
	require.NoError(t, tb.exec.Stop(ctx, "ignore", time.Second))
	require.NoError(t, tb.exec.Stop(ctx, "handle", 10*time.Second))
	require.Less(t, time.Since(start), 2*time.Second, "Stop waited for the task")

	x := tb.wait(t, "ignore", 20*time.Second)
	require.Equal(t, -1, x.ExitCode)
	require.Equal(t, "SIGKILL", x.Signal)
	require.GreaterOrEqual(t, time.Since(start), time.Second)

	x = tb.wait(t, "handle", 20*time.Second)
	require.Equal(t, 3, x.ExitCode)
	require.Empty(t, x.Signal)
	require.Equal(t, "ready\nterm\n", readFile(t, s.Stdout))
	require.NoError(t, tb.exec.Destroy(ctx, "ignore", false))
	require.NoError(t, tb.exec.Destroy(ctx, "handle", false))
}

// TestStartErrors checks the image errors and bad settings.
func TestStartErrors(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	ctx := context.Background()

	s := tb.spec("never", map[string]string{"pull": "never"}, "true")
	s.Container.Image = "berth-test/no-such-image:1"
	_, err := tb.exec.Start(ctx, s)
	require.ErrorIs(t, err, executor.ErrStartFailed)
	require.Contains(t, err.Error(), "IMAGE_NOT_FOUND")
	require.Contains(t, err.Error(), "berth-test/no-such-image:1")

	// No registry answers on localhost:1: the pull fails.
	s = tb.spec("missing", nil, "true")
	s.Container.Image = "localhost:1/no-such-image:1"
	_, err = tb.exec.Start(ctx, s)
	require.ErrorIs(t, err, executor.ErrStartFailed)
	require.Contains(t, err.Error(), "PULL_FAILED")
	require.Contains(t, err.Error(), "localhost:1/no-such-image:1")

	// A bad extension fails its translation; a bad typed setting, Start.
	_, err = executor.ContainerOf(&job.Template{Image: tb.image, Extensions: map[string]string{"cpus": "lots"}})
	require.ErrorIs(t, err, executor.ErrStartFailed)
	require.Contains(t, err.Error(), `"cpus"`)
	s = tb.spec("badmount", nil, "true")
	s.Container.Mounts = []job.Mount{{Host: "relative", Container: "/x"}}
	_, err = tb.exec.Start(ctx, s)
	require.ErrorIs(t, err, executor.ErrStartFailed)
	require.Contains(t, err.Error(), "stage_in[0]")

	// A command the image lacks: the engine refuses to start it, and the
	// container is removed.
	_, err = tb.exec.Start(ctx, tb.spec("nocmd", nil, "/no/such/program"))
	require.ErrorIs(t, err, executor.ErrStartFailed)
	_, err = tb.exec.Inspect(ctx, "nocmd")
	require.ErrorIs(t, err, executor.ErrNotFound)
	found, err := tb.exec.Cleanup(ctx)
	require.NoError(t, err)
	require.Empty(t, found)

	// pull=never with the image present starts.
	tb.start(t, tb.spec("present", map[string]string{"pull": "never"}, "true"))
	require.Equal(t, 0, tb.wait(t, "present", 20*time.Second).ExitCode)
	_, err = tb.exec.Start(ctx, tb.spec("present", nil, "true"))
	require.ErrorIs(t, err, executor.ErrStartFailed, "duplicate ID")
	require.NoError(t, tb.exec.Destroy(ctx, "present", false))
}

// TestDestroy checks that Destroy refuses a live task without force and
// removes its container with force.
func TestDestroy(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	ctx := context.Background()
	h := tb.start(t, tb.spec("live", nil, "sleep", "100"))
	require.ErrorIs(t, tb.exec.Destroy(ctx, "live", false), executor.ErrNotRunning)
	require.NoError(t, tb.exec.Destroy(ctx, "live", true))
	_, err := tb.exec.Inspect(ctx, "live")
	require.ErrorIs(t, err, executor.ErrNotFound)
	_, err = tb.cli.ContainerInspect(ctx, h.Ident.ContainerID, clientInspect)
	require.Error(t, err, "container still there")
}

// TestUsage checks that CPU time and peak memory come from the engine's
// stats (sampled once a second, and the first sample can be seconds late
// on a busy engine, so the task runs for six).
func TestUsage(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	tb.start(t, tb.spec("busy", nil, "sh", "-c", "end=$(( $(date +%s) + 6 )); while [ $(date +%s) -lt $end ]; do :; done"))
	x := tb.wait(t, "busy", 20*time.Second)
	require.Equal(t, 0, x.ExitCode)
	require.Greater(t, x.CPUTime, 500*time.Millisecond)
	require.Positive(t, x.MaxRSS)
	require.NoError(t, tb.exec.Destroy(context.Background(), "busy", false))
}

// TestRestartPolicy checks a restart policy: the task is Requeued while the
// engine restarts the container and Running again after, as Changes
// reports with the restarts so far; it ends with the last run's exit code
// and the restart count, and its output holds every run's.
func TestRestartPolicy(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	ctx := context.Background()
	s := tb.spec("restart", map[string]string{"restart": "on-failure:2"}, "sh", "-c", "echo run; echo err >&2; sleep 0.2; exit 3")
	tb.start(t, s)
	changes, err := tb.exec.Changes(ctx, "restart")
	require.NoError(t, err)
	var got []executor.Status
	sawRequeued := false
	for st := range changes {
		got = append(got, st)
		if st.State == job.Requeued {
			if now, err := tb.exec.Inspect(ctx, "restart"); err == nil && now.State == job.Requeued {
				sawRequeued = true
			}
		}
	}
	require.Equal(t, []executor.Status{
		{State: job.Requeued, Restarts: 1}, {State: job.Running, Restarts: 1},
		{State: job.Requeued, Restarts: 2}, {State: job.Running, Restarts: 2},
	}, got)
	t.Logf("Inspect said Requeued during a restart: %v", sawRequeued)
	x := tb.wait(t, "restart", 30*time.Second)
	require.Equal(t, 3, x.ExitCode)
	require.Equal(t, 2, x.Restarts)
	st, err := tb.exec.Inspect(ctx, "restart")
	require.NoError(t, err)
	require.Equal(t, job.Failed, st.State)
	require.Equal(t, 2, st.Restarts)
	require.Equal(t, "run\nrun\nrun\n", readFile(t, s.Stdout))
	require.Equal(t, "err\nerr\nerr\n", readFile(t, s.Stderr))
	require.NoError(t, tb.exec.Destroy(ctx, "restart", false))

	// A task that ends without a restart: Changes closes with nothing.
	tb.start(t, tb.spec("once", nil, "true"))
	changes, err = tb.exec.Changes(ctx, "once")
	require.NoError(t, err)
	for st := range changes {
		t.Fatalf("unexpected change %+v", st)
	}
	require.NoError(t, tb.exec.Destroy(ctx, "once", true))
}
