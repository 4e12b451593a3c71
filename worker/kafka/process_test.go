package kafka

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
)

// TestKill9 runs `berth worker --kafka` as a process, kills it with
// SIGKILL while a job's script sleeps, and starts it again: the restarted
// worker removes the orphaned container, and the job, never committed,
// comes again, runs again and gets exactly one finished. SIGTERM then
// stops the worker cleanly.
func TestKill9(t *testing.T) {
	t.Parallel()
	tb := setup(t, 1)
	bin := testenv.Berth(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "sandboxes.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(testConfig(tb.cfg.Sandbox.Image)), 0o600))
	stateDir := filepath.Join(dir, "state")
	start := func(name string) *exec.Cmd {
		cmd := exec.Command(bin, "worker", "--kafka", tb.broker, "--sandbox", testSandbox,
			"--sandbox-config", cfgFile, "--state-dir", stateDir, "--session-timeout", "6s", "--log-level", "debug")
		cmd.Env = append(os.Environ(), "BERTH_HOME="+filepath.Join(dir, "home"))
		log, err := os.Create(filepath.Join(dir, name+".log"))
		require.NoError(t, err)
		cmd.Stdout, cmd.Stderr = log, log
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			log.Close()
			if t.Failed() {
				b, _ := os.ReadFile(log.Name())
				t.Logf("%s:\n%s", name, b)
			}
		})
		return cmd
	}

	first := start("first")
	id := newJobID()
	tb.produce(t, id, pendingJob(id, "echo start; sleep 4; echo done"))
	tb.running.For(id, 30*time.Second)
	instance := instanceOf(t, stateDir)
	t.Cleanup(func() { removeContainers(t, tb.docker, instance) })
	orphans := containers(t, tb.docker, instance)
	require.Len(t, orphans, 1)

	require.NoError(t, first.Process.Signal(syscall.SIGKILL))
	first.Wait()
	_, answered := tb.finished.NextOrNone(500 * time.Millisecond)
	require.False(t, answered)
	res, err := tb.docker.ContainerInspect(context.Background(), orphans[0], client.ContainerInspectOptions{})
	require.NoError(t, err)
	require.True(t, res.Container.State.Running, "the orphan still runs")

	second := start("second")
	f := tb.finishedFor(t, id, 60*time.Second)
	require.Equal(t, &ScriptResults{FinishedWith: FinishedSucceeded, Stdout: "start\ndone\n", Stderr: ""}, f.ScriptResults)
	_, err = tb.docker.ContainerInspect(context.Background(), orphans[0], client.ContainerInspectOptions{})
	require.Error(t, err, "the orphan was removed at start")

	require.NoError(t, second.Process.Signal(syscall.SIGTERM))
	exited := make(chan error, 1)
	go func() { exited <- second.Wait() }()
	select {
	case err := <-exited:
		require.NoError(t, err, "a clean exit on SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not stop on SIGTERM")
	}
	_, again := tb.finished.NextOrNone(200 * time.Millisecond)
	require.False(t, again, "exactly one finished")
	require.Equal(t, int64(1), tb.committed(t, 0))
	require.Empty(t, containers(t, tb.docker, instance))
}
