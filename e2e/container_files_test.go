package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/daemon"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// TestContainerFiles checks stage-in (--mount), stage-out (--stage-out),
// the output and error paths, and that bad container settings are refused
// before anything is submitted.
func TestContainerFiles(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	testenv.RequireDocker(t)
	s := testenv.StartServer(t)
	dir := t.TempDir()
	in, res := filepath.Join(dir, "in"), filepath.Join(dir, "res")
	require.NoError(t, os.MkdirAll(in, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(in, "f"), []byte("input\n"), 0o644))

	r := s.Berth("", "run", "--image", image, "--mount", in+":/in", "--stage-out", "/out:"+filepath.Join(res, "out"),
		"--", "sh", "-c", "cat /in/f; mkdir /out && cp /in/f /out/copy && echo more > /out/more; touch /in/x || exit 2")
	require.Equal(t, 2, r.Code, r.Stderr)
	require.Equal(t, "input\n", r.Stdout)
	require.Equal(t, "input\n", readFile(t, filepath.Join(res, "out", "copy")), "staged out although the job failed")
	require.Equal(t, "more\n", readFile(t, filepath.Join(res, "out", "more")))

	// A stage-out path the container lacks fails a job that exited 0.
	r = s.Berth("", "run", "--image", image, "--stage-out", "/nothing:"+filepath.Join(res, "none"), "--", "true")
	require.Equal(t, 1, r.Code)
	require.Contains(t, r.Stderr, "copying its files out failed")
	require.Contains(t, r.Stderr, "/nothing")

	// The output and error paths get stdout and stderr, demultiplexed.
	c := s.Client()
	ctx := context.Background()
	spec := job.Spec{Template: job.Template{Image: image, Command: "sh", Args: []string{"-c", "echo o1; echo e1 >&2; echo o2; echo e2 >&2"},
		OutputPath: filepath.Join(res, "job.out"), ErrorPath: filepath.Join(res, "job.err")}}
	j, err := c.Submit(ctx, spec)
	require.NoError(t, err)
	_, err = c.Wait(ctx, []int64{j.ID}, false, 0)
	require.NoError(t, err)
	require.Equal(t, job.Done, jobOf(t, s, j.ID).State)
	require.Equal(t, "o1\no2\n", readFile(t, spec.Template.OutputPath))
	require.Equal(t, "e1\ne2\n", readFile(t, spec.Template.ErrorPath))
	require.Equal(t, "o1\no2\n", s.Berth("", "logs", "--stdout", fmt.Sprint(j.ID)).Stdout, "berth keeps its own copy")

	// Bad settings: usage errors naming the flag or field; nothing submitted.
	before := len(strings.Fields(s.Berth("", "ls", "-q").Stdout))
	for _, bad := range [][]string{
		{"--shm-size", "lots"},
		{"--ext", "volumes=/x"},
		{"--mount", "relative"},
		{"--ulimit", "nofile=x"},
	} {
		args := append(append([]string{"run", "--image", image}, bad...), "--", "true")
		r := s.Berth("", args...)
		require.Equal(t, 2, r.Code, "%v: %s", bad, r.Stderr)
		require.Contains(t, r.Stderr, bad[0], "%v", bad)
	}
	require.Len(t, strings.Fields(s.Berth("", "ls", "-q").Stdout), before, "nothing submitted")
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

// TestContainerRestartPolicy checks a restart policy end to end: while the
// engine restarts the container the task is Requeued (sub-state RESTARTING
// and the count), Running again after, in the same attempt; it ends Failed
// with the last exit code, a message with the restart count, and the
// output of every run.
func TestContainerRestartPolicy(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	testenv.RequireDocker(t)
	s := testenv.StartServer(t)
	r := s.Berth("", "run", "--image", image, "--restart", "on-failure:2", "--", "sh", "-c", "echo run; sleep 0.3; exit 3")
	require.Equal(t, 3, r.Code, r.Stderr)
	require.Equal(t, "run\nrun\nrun\n", r.Stdout)

	d, err := s.Client().Task(context.Background(), job.Ref{Job: 1})
	require.NoError(t, err)
	require.Equal(t, job.Failed, d.State)
	require.Equal(t, job.ExitCode(3), d.SubState)
	require.Equal(t, 1, d.Attempt)
	require.Contains(t, d.Message, "restarted 2 times")
	var seen []string
	for _, h := range d.History {
		if h.State != job.Queued {
			require.Equal(t, 1, h.Attempt, "one attempt: restarted where it ran, not requeued in the queue")
		}
		seen = append(seen, strings.TrimSpace(string(h.State)+" "+h.SubState.String()))
	}
	require.Equal(t, []string{"Queued", "Running", "Requeued RESTARTING 1", "Running", "Requeued RESTARTING 2", "Running",
		"Failed EXIT_CODE 3"}, seen)
}

// TestContainerCreatedLost leaves a container created but never started by
// a worker that dies (the state between its create and its start, made
// here through the engine while the worker is stopped): the next worker
// removes it and reports the task LOST at once, instead of leaving it.
func TestContainerCreatedLost(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	dc := testenv.RequireDocker(t)
	s := testenv.StartServer(t)
	ctx := context.Background()
	id := submitted(t, s.Berth("", "run", "-d", "--image", image, "--", "sleep", "60"))
	ref := fmt.Sprint(id)
	var ctr string
	require.Eventually(t, func() bool {
		tk := taskOf(t, s, ref)
		ctr = tk.ContainerID
		return tk.State == job.Running && ctr != ""
	}, 30*time.Second, 50*time.Millisecond)
	in, err := dc.ContainerInspect(ctx, ctr, client.ContainerInspectOptions{})
	require.NoError(t, err)
	labels := in.Container.Config.Labels
	require.Equal(t, daemon.LocalInstance(s.Dir), labels["berth.executor"])

	// Freeze the worker, and put in place of its container one that was
	// created, as if the worker had died before starting it.
	pid := s.WorkerPID()
	require.NoError(t, syscall.Kill(pid, syscall.SIGSTOP))
	_, err = dc.ContainerRemove(ctx, ctr, client.ContainerRemoveOptions{Force: true})
	require.NoError(t, err)
	created, err := dc.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: image, Cmd: []string{"sleep", "60"}, Labels: labels},
	})
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))

	start := time.Now()
	r := s.Berth("", "wait", "--timeout", "60s", ref)
	require.Equal(t, 1, r.Code, r.Stdout+r.Stderr)
	tk := taskOf(t, s, ref)
	require.Equal(t, job.Failed, tk.State)
	require.Equal(t, job.ReasonLost, tk.SubState.Kind)
	require.Contains(t, tk.Message, "restarted")
	t.Logf("reported LOST %s after the worker died", time.Since(start).Round(time.Millisecond))
	_, err = dc.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
	require.Error(t, err, "the created container was removed")
}
