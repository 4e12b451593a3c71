package openjd

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

func TestRunContainerFlags(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "http://unused:1", false)
	var got *RunOptions
	capture := func(_ context.Context, o *RunOptions) error { got = o; return nil }
	_, err := clitest.Exec(NewCmdRun(env.F, capture), "job.yaml", "--image", "img", "--memory", "256m", "--cpus", "0.5",
		"--pids", "100", "--network", "none", "--mount", "/a:/b", "--mount", "/c:/d:rw")
	require.NoError(t, err)
	c := got.Container
	require.Equal(t, "img", c.Image)
	require.Equal(t, int64(256<<20), c.Settings.Memory)
	require.Equal(t, int64(500_000_000), c.Settings.NanoCPUs)
	require.Equal(t, int64(100), *c.Settings.PidsLimit)
	require.Equal(t, "none", c.Settings.Network)
	require.Equal(t, []job.Mount{{Host: "/a", Container: "/b"}, {Host: "/c", Container: "/d", RW: true}}, c.Mounts)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--memory", "1g"}, "--memory needs --image"},
		{[]string{"--mount", "/a:/b"}, "--mount needs --image"},
		{[]string{"--image", "i", "--memory", "lots"}, "--memory"},
		{[]string{"--image", "i", "--cpus", "-1"}, "--cpus"},
		{[]string{"--image", "i", "--mount", "/a:b"}, "not absolute"},
	} {
		code, err := clitest.Exec(NewCmdRun(env.F, capture), append([]string{"job.yaml"}, c.args...)...)
		require.Equal(t, cmdutil.ExitUsage, code, c.args)
		require.ErrorContains(t, err, c.want)
	}
}

// sessionContainerID reads the container's ID from the notice on stderr.
func sessionContainerID(t *testing.T, stderr string) string {
	t.Helper()
	m := regexp.MustCompile(`Session container ([0-9a-f]{12})`).FindStringSubmatch(stderr)
	require.NotNil(t, m, stderr)
	return m[1]
}

func requireGone(t *testing.T, cli *client.Client, id string) {
	t.Helper()
	_, err := cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	require.True(t, cerrdefs.IsNotFound(err), "container %s is still there: %v", id, err)
}

// TestRunImage: with --image every action runs in the one container, which
// is gone at the end, also after a failure.
func TestRunImage(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	cli := testenv.RequireDocker(t)
	data := t.TempDir()
	require.NoError(t, os.WriteFile(data+"/in", []byte("from-host"), 0o644))
	p := writeTemplate(t, `specificationVersion: jobtemplate-2023-09
name: Image
jobEnvironments:
- name: Env
  script:
    actions:
      onEnter: {command: sh, args: ["-c", "echo openjd_env: WHERE=$(hostname)"]}
steps:
- name: S
  parameterSpace:
    taskParameterDefinitions: [{name: N, type: INT, range: "1-3"}]
  script:
    actions:
      onRun: {command: sh, args: ["-c", "echo MARK {{Task.Param.N}} $WHERE $(hostname) $(cat /data/in); test {{Task.Param.N}} != 2"]}
`)
	env := clitest.NewEnv(t, "http://unused:1", false)
	code, _ := clitest.Exec(NewCmdRun(env.F, nil), p, "--image", image, "--mount", data+":/data:ro", "--network", "none")
	require.Equal(t, cmdutil.ExitFailure, code, env.Out.String()+env.ErrOut.String())
	id := sessionContainerID(t, env.ErrOut.String())
	out := env.Out.String()
	require.Contains(t, out, "MARK 1 "+id+" "+id+" from-host")
	require.Contains(t, out, "MARK 2 "+id+" "+id+" from-host")
	require.NotContains(t, out, "MARK 3")
	requireGone(t, cli, id)
}

// TestRunImageInterrupted: an interrupt cancels the task in the container,
// the environments are exited in it, and the container is removed.
func TestRunImageInterrupted(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	cli := testenv.RequireDocker(t)
	p := writeTemplate(t, `specificationVersion: jobtemplate-2023-09
name: Slow
jobEnvironments:
- name: Env
  script:
    actions:
      onExit: {command: sh, args: ["-c", "echo env exited in $(hostname)"]}
steps:
- name: S
  script: {actions: {onRun: {command: sh, args: ["-c", "echo TASK-IS-RUNNING; sleep 60"]}}}
`)
	env := clitest.NewEnv(t, "http://unused:1", false)
	lockedOut(env)
	sigs := make(chan os.Signal, 1)
	opts := &RunOptions{IO: env.F.IO, Now: env.F.Now, Template: p, TimestampFormat: "relative", Output: outputHuman,
		Signals: func() (<-chan os.Signal, func()) { return sigs, func() {} }, Container: ContainerOptions{Image: image}}
	go func() {
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if strings.Contains(syncString(env), "TASK-IS-RUNNING") {
				break
			}
		}
		sigs <- os.Interrupt
	}()
	err := runRun(context.Background(), opts)
	require.Equal(t, cmdutil.ExitInterrupted, cmdutil.ExitCode(err))
	outMu.Lock()
	stderr := env.ErrOut.String()
	outMu.Unlock()
	id := sessionContainerID(t, stderr)
	require.Contains(t, syncString(env), "env exited in "+id)
	requireGone(t, cli, id)
}
