package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/daemon"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

func TestContainerJobs(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	dc := testenv.RequireDocker(t)
	s := testenv.StartServer(t)

	r := s.Berth("", "run", "--image", image, "--", "sh", "-c", "echo out; echo err >&2; exit 5")
	require.Equal(t, 5, r.Code, r.Stderr)
	require.Equal(t, "out\n", r.Stdout)
	require.Equal(t, "err\n", r.Stderr)

	// The image's environment, not the worker's, and results through
	// $BERTH_RESULT, also on a read-only root as another user.
	envID := fmt.Sprint(submitted(t, s.Berth("", "run", "-d", "--image", image, "--read-only", "--user", "1000:1000", "--env", "GREETING=hi", "--",
		"sh", "-c", `echo "$PATH $GREETING $HOME"; echo '{"n":1}' >> "$BERTH_RESULT"`)))
	r = s.Berth("", "wait", envID)
	require.Equal(t, 0, r.Code, r.Stderr)
	r = s.Berth("", "receive", "--json", envID)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, `"/bin hi /\n"`)
	require.Regexp(t, `"n":\s*1`, r.Stdout)

	r = s.Berth("", "run", "--image", image, "--memory", "16m", "--", "sh", "-c", `x=a; while true; do x="$x$x"; done`)
	require.NotEqual(t, 0, r.Code)
	require.Contains(t, r.Stderr, "failed: out of memory")

	r = s.Berth("", "run", "--image", "berth-test/none:latest", "--pull", "never", "--", "true")
	require.NotEqual(t, 0, r.Code)
	require.Contains(t, r.Stderr, "failed: image not found")
	require.Contains(t, r.Stderr, "berth-test/none:latest")

	// A command the image lacks: 127, as docker run and a shell say.
	r = s.Berth("", "run", "--image", image, "--", "nosuch-berth-command")
	require.Equal(t, 127, r.Code, r.Stderr)
	require.Contains(t, r.Stderr, "could not start: nosuch-berth-command: command not found\n")

	// Suspend pauses the container, as the engine sees it.
	id := submitted(t, s.Berth("", "run", "-d", "--image", image, "--", "sleep", "60"))
	ref := fmt.Sprint(id)
	var ctr string
	require.Eventually(t, func() bool {
		tk := taskOf(t, s, ref)
		ctr = tk.ContainerID
		return tk.State == job.Running && ctr != ""
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, 0, s.Berth("", "suspend", ref).Code)
	in, err := dc.ContainerInspect(context.Background(), ctr, client.ContainerInspectOptions{})
	require.NoError(t, err)
	require.True(t, in.Container.State.Paused, "the engine has the container paused")
	require.Equal(t, job.Suspended, taskOf(t, s, ref).State)
	require.Equal(t, 0, s.Berth("", "resume", ref).Code)
	require.Equal(t, 0, s.Berth("", "stop", ref).Code)
	require.Equal(t, 1, s.Berth("", "wait", ref).Code)
	require.Equal(t, job.ReasonCanceled, taskOf(t, s, ref).SubState.Kind)
}

// TestContainerArrayMaxParallel counts the running containers from the
// engine's own events: never more than max-parallel.
func TestContainerArrayMaxParallel(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	dc := testenv.RequireDocker(t)
	s := testenv.StartServer(t, "--slots", "8")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := make(client.Filters).Add("type", string(events.ContainerEventType)).
		Add("label", "berth.executor="+daemon.LocalInstance(s.Dir))
	sub := dc.Events(ctx, client.EventsListOptions{Filters: f})
	var mu sync.Mutex
	running, peak, started := 0, 0, 0
	go func() {
		for {
			select {
			case m := <-sub.Messages:
				mu.Lock()
				switch m.Action {
				case events.ActionStart:
					running++
					started++
					peak = max(peak, running)
				case events.ActionDie:
					running--
				}
				mu.Unlock()
			case <-sub.Err:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	time.Sleep(200 * time.Millisecond) // the subscription is in place

	r := s.Berth("", "run", "--array", "1-20", "--max-parallel", "3", "--image", image, "--", "sleep", "0.3")
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return started == 20 && running == 0
	}, 20*time.Second, 50*time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	require.LessOrEqual(t, peak, 3, "never more than 3 containers running")
	require.GreaterOrEqual(t, peak, 2, "containers did run in parallel")
}

// TestContainerServerKilled kills the server mid-run: the container runs on
// in the local worker, and the job completes Done with its full output.
func TestContainerServerKilled(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	testenv.RequireDocker(t)
	s := testenv.StartServer(t)
	id := submitted(t, s.Berth("", "run", "-d", "--image", image, "--", "sh", "-c",
		`i=0; while [ $i -lt 30 ]; do echo line $i; i=$((i+1)); sleep 0.1; done`))
	ref := fmt.Sprint(id)
	require.Eventually(t, func() bool { return taskOf(t, s, ref).State == job.Running }, 30*time.Second, 20*time.Millisecond)
	s.Kill()
	time.Sleep(time.Second)
	s.Start()
	r := s.Berth("", "wait", "--timeout", "60s", ref)
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	out := s.Berth("", "logs", ref).Stdout
	want := ""
	for i := range 30 {
		want += fmt.Sprintf("line %d\n", i)
	}
	require.Equal(t, want, out)
}

// TestContainerWorkerKilled kills the local worker with SIGKILL while a
// container runs: the next worker finds the container by its labels,
// follows it again, and the job ends Done with its full output, in one
// attempt.
func TestContainerWorkerKilled(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	testenv.RequireDocker(t)
	s := testenv.StartServer(t)
	id := submitted(t, s.Berth("", "run", "-d", "--image", image, "--", "sh", "-c",
		`i=0; while [ $i -lt 30 ]; do echo line $i; i=$((i+1)); sleep 0.1; done`))
	ref := fmt.Sprint(id)
	require.Eventually(t, func() bool { return strings.Contains(s.Berth("", "logs", ref).Stdout, "line 3") },
		30*time.Second, 50*time.Millisecond, "the container runs")
	old := s.WorkerPID()
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
	r := s.Berth("", "wait", "--timeout", "60s", ref)
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr+s.Log())
	require.NotEqual(t, old, s.WorkerPID(), "a new local worker runs")
	tk := taskOf(t, s, ref)
	require.Equal(t, job.Done, tk.State)
	require.Equal(t, 1, tk.Attempt, "followed again, not rerun")
	want := ""
	for i := range 30 {
		want += fmt.Sprintf("line %d\n", i)
	}
	require.Equal(t, want, s.Berth("", "logs", ref).Stdout)
}

// TestContainerStopGrace: PID 1 of a container ignores SIGTERM unless it
// handles it; stop --grace and kill end it without the server's grace (a
// minute here).
func TestContainerStopGrace(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	s := testenv.StartServer(t, "--stop-grace", "60s")
	var ids []string
	for range 2 {
		id := fmt.Sprint(submitted(t, s.Berth("", "run", "-d", "--image", image, "--", "sh", "-c", "echo up; sleep 600")))
		require.Eventually(t, func() bool { return s.Berth("", "logs", id).Stdout == "up\n" }, 60*time.Second, 50*time.Millisecond)
		ids = append(ids, id)
	}
	require.Equal(t, 0, s.Berth("", "stop", "--grace", "1s", ids[0]).Code)
	require.Equal(t, 0, s.Berth("", "kill", ids[1]).Code)
	for _, id := range ids {
		r := s.Berth("", "wait", "--timeout", "40s", id)
		require.Equal(t, 1, r.Code, "job %s ended well before the server's grace: %s", id, r.Stdout+r.Stderr)
		require.Equal(t, job.ReasonCanceled, taskOf(t, s, id).SubState.Kind)
	}
}

// TestContainerPausedOutside: a docker pause or unpause done outside berth
// is seen from the engine's events, the task's state follows, and berth
// resume works on it.
func TestContainerPausedOutside(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	dc := testenv.RequireDocker(t)
	s := testenv.StartServer(t)
	ctx := context.Background()
	ref := fmt.Sprint(submitted(t, s.Berth("", "run", "-d", "--image", image, "--", "sleep", "60")))
	var ctr string
	require.Eventually(t, func() bool {
		tk := taskOf(t, s, ref)
		ctr = tk.ContainerID
		return tk.State == job.Running && ctr != ""
	}, 30*time.Second, 50*time.Millisecond)
	paused := func() bool {
		in, err := dc.ContainerInspect(ctx, ctr, client.ContainerInspectOptions{})
		require.NoError(t, err)
		return in.Container.State.Paused
	}
	state := func(want job.State) func() bool {
		return func() bool { return taskOf(t, s, ref).State == want }
	}

	_, err := dc.ContainerPause(ctx, ctr, client.ContainerPauseOptions{})
	require.NoError(t, err)
	require.Eventually(t, state(job.Suspended), 30*time.Second, 50*time.Millisecond, "docker pause: Suspended")
	r := s.Berth("", "resume", ref)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Eventually(t, state(job.Running), 30*time.Second, 50*time.Millisecond, "berth resume: Running")
	require.False(t, paused(), "berth resume unpaused the container")

	_, err = dc.ContainerPause(ctx, ctr, client.ContainerPauseOptions{})
	require.NoError(t, err)
	require.Eventually(t, state(job.Suspended), 30*time.Second, 50*time.Millisecond)
	_, err = dc.ContainerUnpause(ctx, ctr, client.ContainerUnpauseOptions{})
	require.NoError(t, err)
	require.Eventually(t, state(job.Running), 30*time.Second, 50*time.Millisecond, "docker unpause: Running")

	// berth's own suspend and resume still go both ways.
	require.Equal(t, 0, s.Berth("", "suspend", ref).Code)
	require.Equal(t, job.Suspended, taskOf(t, s, ref).State)
	require.True(t, paused())
	require.Equal(t, 0, s.Berth("", "resume", ref).Code)
	require.Equal(t, job.Running, taskOf(t, s, ref).State)
	require.Equal(t, 0, s.Berth("", "stop", ref).Code)
	require.Equal(t, 1, s.Berth("", "wait", ref).Code)
	require.Equal(t, job.ReasonCanceled, taskOf(t, s, ref).SubState.Kind)
}

// TestContainerIDShortTask: the container ID is recorded also for a task
// that ends before its started event goes out (folded into its end).
func TestContainerIDShortTask(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	testenv.RequireDocker(t)
	s := testenv.StartServer(t)
	for range 3 {
		ref := fmt.Sprint(submitted(t, s.Berth("", "run", "-d", "--image", image, "--", "true")))
		require.Equal(t, 0, s.Berth("", "wait", ref).Code)
		tk := taskOf(t, s, ref)
		require.Len(t, tk.ContainerID, 64, "task %s: %+v", ref, tk)
	}
}

// TestContainerOutputPathsCLI: --output-path and --error-path of berth run
// copy the job's stdout and stderr to host files when it ends, as the API's
// output_path and error_path do (a relative path from where berth runs).
func TestContainerOutputPathsCLI(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	testenv.RequireDocker(t)
	s := testenv.StartServer(t)
	dir := testenv.ShortTempDir(t)
	r := s.Berth("", "run", "--image", image, "--output-path", filepath.Join(dir, "out.txt"), "--error-path", filepath.Join(dir, "err.txt"),
		"--", "sh", "-c", "echo o1; echo e1 >&2; echo o2")
	require.Equal(t, 0, r.Code, r.Stderr)
	b, err := os.ReadFile(filepath.Join(dir, "out.txt"))
	require.NoError(t, err)
	require.Equal(t, "o1\no2\n", string(b))
	b, err = os.ReadFile(filepath.Join(dir, "err.txt"))
	require.NoError(t, err)
	require.Equal(t, "e1\n", string(b))
}
