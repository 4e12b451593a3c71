package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
)

// TestMain fails the run if any goroutine of the package outlives the
// tests.
func TestMain(m *testing.M) { testenv.MainCheckingLeaks(m, "berth/executor/docker.") }

type testBundle struct {
	cli      *client.Client
	image    string
	instance string
	exec     *Executor
	dir      string
}

// setup returns an executor with an Instance of its own; the test's
// containers are removed at its end.
func setup(t *testing.T, cfg Config) *testBundle {
	t.Helper()
	image := testenv.DockerImage(t)
	cli := testenv.RequireDocker(t)
	b := make([]byte, 6)
	rand.Read(b)
	cfg.Instance = "test-" + hex.EncodeToString(b)
	cfg.Client = cli
	e, err := New(context.Background(), cfg)
	require.NoError(t, err)
	tb := &testBundle{cli: cli, image: image, instance: cfg.Instance, exec: e, dir: t.TempDir()}
	t.Cleanup(func() {
		tb.exec.Close()
		removeAll(t, cli, cfg.Instance)
	})
	return tb
}

func removeAll(t *testing.T, cli *client.Client, instance string) {
	ctx := context.Background()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", LabelExecutor+"="+instance)})
	if err != nil {
		t.Logf("listing containers: %v", err)
		return
	}
	for _, c := range res.Items {
		cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true})
	}
}

// reopen replaces the bundle's executor with a new one of the same
// Instance, as after a restart of the worker.
func (tb *testBundle) reopen(t *testing.T, cfg Config) {
	t.Helper()
	require.NoError(t, tb.exec.Close())
	cfg.Instance, cfg.Client = tb.instance, tb.cli
	e, err := New(context.Background(), cfg)
	require.NoError(t, err)
	tb.exec = e
}

// spec returns a spec running argv in the test image, with the given
// extensions (translated as the worker does) and output to files
// "<id>.out" and "<id>.err" in the bundle's directory.
func (tb *testBundle) spec(id string, ext map[string]string, argv ...string) *executor.Spec {
	c, err := executor.ContainerOf(&job.Template{Image: tb.image, Extensions: ext})
	if err != nil {
		panic(err) // the tests give valid extensions
	}
	return &executor.Spec{
		ID:        id,
		Command:   argv[0],
		Args:      argv[1:],
		Env:       []string{"PATH=/bin"},
		Stdout:    filepath.Join(tb.dir, id+".out"),
		Stderr:    filepath.Join(tb.dir, id+".err"),
		Container: c,
	}
}

func (tb *testBundle) start(t *testing.T, s *executor.Spec) *executor.Handle {
	t.Helper()
	h, err := tb.exec.Start(context.Background(), s)
	require.NoError(t, err)
	return h
}

func (tb *testBundle) wait(t *testing.T, id string, timeout time.Duration) *executor.Exit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ch, err := tb.exec.Wait(ctx, id)
	require.NoError(t, err)
	x, ok := <-ch
	require.True(t, ok, "task %s did not end within %s", id, timeout)
	return x
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

var clientInspect = client.ContainerInspectOptions{}

var waitNotRunning = client.ContainerWaitOptions{Condition: "not-running"}
