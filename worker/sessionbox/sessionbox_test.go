package sessionbox_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/executor/docker"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/openjd/localrun"
	"github.com/berth-run/berth/openjd/session"
	"github.com/berth-run/berth/worker/sessionbox"
)

var _ sessionbox.RecoverableEngine = (*docker.Executor)(nil)

// TestMain fails the run if any goroutine of the package outlives the
// tests.
func TestMain(m *testing.M) { testenv.MainCheckingLeaks(m, "berth/worker/sessionbox.") }

type testBundle struct {
	cli      *client.Client
	image    string
	instance string
	exec     *docker.Executor
	dir      string // the session root, mounted in the container
}

// setup returns a Docker executor with an Instance of its own; the test's
// containers are removed at its end.
func setup(t *testing.T) *testBundle {
	t.Helper()
	image := testenv.DockerImage(t)
	cli := testenv.RequireDocker(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	tb := &testBundle{cli: cli, image: image, instance: "test-box-" + hex.EncodeToString(b), dir: t.TempDir()}
	tb.exec = tb.open(t)
	t.Cleanup(func() {
		tb.exec.Close()
		for _, c := range tb.containers(t) {
			_, _ = cli.ContainerRemove(context.Background(), c, client.ContainerRemoveOptions{Force: true})
		}
	})
	return tb
}

func (tb *testBundle) open(t *testing.T) *docker.Executor {
	t.Helper()
	e, err := docker.New(context.Background(), docker.Config{Client: tb.cli, Instance: tb.instance})
	require.NoError(t, err)
	return e
}

// containers lists the IDs of the bundle's containers, running or not.
func (tb *testBundle) containers(t *testing.T) []string {
	t.Helper()
	res, err := tb.cli.ContainerList(context.Background(), client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", docker.LabelExecutor+"="+tb.instance)})
	require.NoError(t, err)
	var ids []string
	for _, c := range res.Items {
		ids = append(ids, c.ID)
	}
	return ids
}

// creates counts the engine's create events of the bundle's containers
// since start.
func (tb *testBundle) creates(t *testing.T, since time.Time) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := make(client.Filters).Add("type", string(events.ContainerEventType)).
		Add("event", string(events.ActionCreate)).Add("label", docker.LabelExecutor+"="+tb.instance)
	sub := tb.cli.Events(ctx, client.EventsListOptions{Filters: f,
		Since: strconv.FormatInt(since.Add(-time.Second).Unix(), 10), Until: strconv.FormatInt(time.Now().Add(time.Second).Unix(), 10)})
	n := 0
	for {
		select {
		case <-sub.Messages:
			n++
		case err := <-sub.Err:
			if err != nil && !strings.Contains(err.Error(), "EOF") {
				require.NoError(t, err)
			}
			return n
		}
	}
}

// start starts a box for the bundle.
func (tb *testBundle) start(t *testing.T, opts sessionbox.Options) *sessionbox.Box {
	t.Helper()
	opts.Image, opts.WorkDir = tb.image, tb.dir
	box, err := sessionbox.Start(context.Background(), tb.exec, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = box.Close(context.Background()) })
	return box
}

// log is a session log that tests can wait on.
type log struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func newLog() *log { return &log{lines: make(chan string, 1000)} }

func (l *log) add(line session.Line) {
	l.mu.Lock()
	l.buf.WriteString(line.Text + "\n")
	l.mu.Unlock()
	select {
	case l.lines <- line.Text:
	default:
	}
}

func (l *log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// run runs a template's job in one session with the box's runner.
func run(t *testing.T, ctx context.Context, tb *testBundle, box *sessionbox.Box, tmpl string, l *log) *localrun.Result {
	t.Helper()
	job, err := localrun.Load(localrun.Input{Template: []byte(tmpl), TemplateDir: tb.dir, WorkingDir: tb.dir})
	require.NoError(t, err)
	res, err := localrun.Run(ctx, localrun.Options{Job: job, Root: tb.dir, Runner: box.Runner(), Log: l.add, Preserve: true})
	require.NoError(t, err)
	return res
}

const sessionJob = `
specificationVersion: jobtemplate-2023-09
name: Box
jobEnvironments:
- name: Env
  script:
    actions:
      onEnter: {command: sh, args: ["-c", "echo openjd_env: GREETING=hello-from-enter; hostname > enter.host"]}
      onExit: {command: sh, args: ["-c", "hostname > {{Session.WorkingDirectory}}/exit.host"]}
steps:
- name: S
  parameterSpace:
    taskParameterDefinitions: [{name: N, type: INT, range: "1-3"}]
  script:
    actions:
      onRun: {command: sh, args: ["-c", "echo \"$GREETING $(hostname)\" > {{Session.WorkingDirectory}}/task-{{Task.Param.N}}"]}
`

// TestOneContainerPerSession: the engine creates one container for a
// session; every action (enter, the tasks, exit) runs in it, with the
// onEnter's openjd_env; the container is gone after Close.
func TestOneContainerPerSession(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	since := time.Now()
	box := tb.start(t, sessionbox.Options{})
	l := newLog()
	res := run(t, context.Background(), tb, box, sessionJob, l)
	require.True(t, res.Succeeded, l.String())
	require.Equal(t, 3, res.ChunksRun)
	host := box.ContainerID()[:12] // the engine's default hostname

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(res.WorkingDir, name))
		require.NoError(t, err, l.String())
		return strings.TrimSpace(string(b))
	}
	// A relative path is in the session's working directory.
	require.Equal(t, host, read("enter.host"))
	require.Equal(t, host, read("exit.host"))
	for n := 1; n <= 3; n++ {
		require.Equal(t, "hello-from-enter "+host, read("task-"+strconv.Itoa(n)))
	}
	require.NoError(t, box.Close(context.Background()))
	require.NoError(t, box.Close(context.Background()), "a second Close does nothing")
	require.Empty(t, tb.containers(t), "the container is removed")
	require.Equal(t, 1, tb.creates(t, since), "one container for the session")
}

// TestFailure: a failing task and a command the image lacks fail their
// actions with a message; the environments are still exited in the
// container, and Close removes it.
func TestFailure(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	box := tb.start(t, sessionbox.Options{})
	l := newLog()
	res := run(t, context.Background(), tb, box, `
specificationVersion: jobtemplate-2023-09
name: Fails
jobEnvironments:
- name: Env
  script:
    actions:
      onExit: {command: sh, args: ["-c", "echo MARK exited-in-$(hostname)"]}
steps:
- name: S
  script: {actions: {onRun: {command: sh, args: ["-c", "echo openjd_fail: broken; exit 3"]}}}
`, l)
	require.False(t, res.Succeeded)
	require.Equal(t, session.Failed, res.Failure.State)
	require.Equal(t, 3, res.Failure.ExitCode)
	require.Equal(t, "broken", res.Failure.Message)
	require.Contains(t, l.String(), "MARK exited-in-"+box.ContainerID()[:12])

	l = newLog()
	res = run(t, context.Background(), tb, box, `
specificationVersion: jobtemplate-2023-09
name: Missing
steps:
- name: S
  script: {actions: {onRun: {command: no-such-program}}}
`, l)
	require.False(t, res.Succeeded)
	require.Equal(t, session.Failed, res.Failure.State)
	require.Contains(t, res.Failure.Message, "could not start", l.String())
	require.Contains(t, []int{126, 127}, res.Failure.ExitCode, "the engine's status for a command it cannot start")

	require.NoError(t, box.Close(context.Background()))
	require.Empty(t, tb.containers(t))
	_, err := box.Runner().Start(&session.Command{Name: "true"})
	require.Error(t, err, "no command runs in a closed box")
}

// cancelJob is a task that says when it runs and reports SIGTERM with the
// cancel_info.json it finds then.
const cancelJob = `
specificationVersion: jobtemplate-2023-09
name: Cancel
steps:
- name: S
  script:
    actions:
      onRun:
        command: sh
        args: ["-c", "trap 'echo MARK got-term; cat cancel_info.json; echo; exit 7' TERM; echo MARK ready; while :; do sleep 0.05; done"]
        cancelation: %s
`

// runCanceled runs job and cancels it once its task is ready.
func runCanceled(t *testing.T, tb *testBundle, box *sessionbox.Box, job string) (*localrun.Result, *log) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	l := newLog()
	go func() {
		for line := range l.lines {
			if line == "MARK ready" {
				cancel()
				return
			}
		}
	}()
	res := run(t, ctx, tb, box, job, l)
	return res, l
}

// TestCancelNotifyThenTerminate: a canceled action gets SIGTERM in the
// container with cancel_info.json written, and ends with its handler.
func TestCancelNotifyThenTerminate(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	box := tb.start(t, sessionbox.Options{})
	res, l := runCanceled(t, tb, box, strings.Replace(cancelJob, "%s", "{mode: NOTIFY_THEN_TERMINATE, notifyPeriodInSeconds: 600}", 1))
	require.True(t, res.Canceled, l.String())
	require.Equal(t, session.Canceled, res.Failure.State)
	require.Contains(t, l.String(), "MARK got-term")
	require.Contains(t, l.String(), `{"NotifyEnd":"`)
	require.Equal(t, 7, res.Failure.ExitCode, "the handler's exit")
}

// TestCancelTerminate: TERMINATE kills the action at once, with SIGKILL
// and no SIGTERM first.
func TestCancelTerminate(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	box := tb.start(t, sessionbox.Options{})
	job := strings.Replace(cancelJob, "trap 'echo MARK got-term; cat cancel_info.json; echo; exit 7' TERM; ", "", 1)
	res, l := runCanceled(t, tb, box, strings.Replace(job, "%s", "{mode: TERMINATE}", 1))
	require.True(t, res.Canceled, l.String())
	require.Equal(t, session.Canceled, res.Failure.State)
	require.Equal(t, -1, res.Failure.ExitCode)
	require.Contains(t, l.String(), "was ended by signal SIGKILL")
	require.NotContains(t, l.String(), "NotifyEnd")
}

// TestTimeout: an action past its timeout is ended and times out; the
// session's container runs on for the environments' exits.
func TestTimeout(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	box := tb.start(t, sessionbox.Options{})
	l := newLog()
	res := run(t, context.Background(), tb, box, `
specificationVersion: jobtemplate-2023-09
name: Timeout
jobEnvironments:
- name: Env
  script:
    actions:
      onExit: {command: sh, args: ["-c", "echo MARK exit-ran"]}
steps:
- name: S
  script: {actions: {onRun: {command: sleep, args: ["1000"], timeout: 1}}}
`, l)
	require.False(t, res.Succeeded)
	require.Equal(t, session.TimedOut, res.Failure.State, l.String())
	require.Contains(t, l.String(), "MARK exit-ran")
}

// TestOptions: the container gets the limits, mounts and environment
// asked for, and no privilege.
func TestOptions(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	extra := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(extra, "data"), []byte("shared"), 0o644))
	pids := int64(64)
	box := tb.start(t, sessionbox.Options{
		ID:     "opts",
		Env:    []string{"FROM_BOX=yes"},
		Mounts: []job.Mount{{Host: extra, Container: "/data"}},
		ContainerSettings: job.ContainerSettings{Memory: 64 << 20, NanoCPUs: 500_000_000, PidsLimit: &pids,
			Network: "none", Labels: map[string]string{"test": "x"}},
	})
	require.Equal(t, sessionbox.TaskPrefix+"opts", box.ID())
	ins, err := tb.cli.ContainerInspect(context.Background(), box.ContainerID(), client.ContainerInspectOptions{})
	require.NoError(t, err)
	c := ins.Container
	require.Equal(t, int64(64<<20), c.HostConfig.Memory)
	require.Equal(t, int64(500_000_000), c.HostConfig.NanoCPUs)
	require.Equal(t, pids, *c.HostConfig.PidsLimit)
	require.Equal(t, "none", string(c.HostConfig.NetworkMode))
	require.False(t, c.HostConfig.Privileged)
	require.Contains(t, c.HostConfig.SecurityOpt, "no-new-privileges")
	require.Equal(t, "opts", c.Config.Labels[sessionbox.LabelSession])
	require.Equal(t, "x", c.Config.Labels["test"])

	l := newLog()
	res := run(t, context.Background(), tb, box, `
specificationVersion: jobtemplate-2023-09
name: Opts
steps:
- name: S
  script: {actions: {onRun: {command: sh, args: ["-c", "echo MARK $FROM_BOX $(cat /data/data); echo x > /data/new || echo MARK read-only"]}}}
`, l)
	require.True(t, res.Succeeded, l.String())
	require.Contains(t, l.String(), "MARK yes shared")
	require.Contains(t, l.String(), "MARK read-only")
}

// TestRemoveStale: after its owner dies (its executor gone, the container
// left), a new instance of the owner removes the session container and
// leaves task containers alone.
func TestRemoveStale(t *testing.T) {
	t.Parallel()
	tb := setup(t)
	box, err := sessionbox.Start(context.Background(), tb.exec, sessionbox.Options{ID: "stale", Image: tb.image, WorkDir: tb.dir})
	require.NoError(t, err)
	task := &executor.Spec{ID: "1.1.1", Command: "sleep", Args: []string{"1000"},
		Container: &executor.ContainerSpec{Image: tb.image}}
	_, err = tb.exec.Start(context.Background(), task)
	require.NoError(t, err)
	require.NoError(t, tb.exec.Close()) // as after kill -9 of the worker

	tb.exec = tb.open(t)
	removed, err := sessionbox.RemoveStale(context.Background(), tb.exec)
	require.NoError(t, err)
	require.Equal(t, []string{box.ID()}, removed)
	ids := tb.containers(t)
	require.Len(t, ids, 1, "the task's container is left")
	require.NotEqual(t, box.ContainerID(), ids[0])
}

// TestOptionErrors: bad options are refused, naming the option, before
// anything is created.
func TestOptionErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		opts sessionbox.Options
		want string
	}{
		{sessionbox.Options{WorkDir: "/tmp"}, "image"},
		{sessionbox.Options{Image: "x"}, "work dir"},
		{sessionbox.Options{Image: "x", WorkDir: "/tmp", Env: []string{"NOEQUALS"}}, "env[0]"},
		{sessionbox.Options{Image: "x", WorkDir: "/tmp", Mounts: []job.Mount{{Host: "rel", Container: "/x"}}}, "mounts[0]"},
		{sessionbox.Options{Image: "x", WorkDir: "/tmp", ID: "a/b"}, "id"},
	} {
		_, err := sessionbox.Start(context.Background(), nil, c.opts)
		require.ErrorContains(t, err, c.want)
	}
}
