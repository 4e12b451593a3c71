package mux_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/executor/mux"
	"github.com/berth-run/berth/executor/process"
	"github.com/berth-run/berth/job"
)

func spec(t *testing.T, id, image string) *executor.Spec {
	c, err := executor.ContainerOf(&job.Template{Command: "true", Image: image})
	require.NoError(t, err)
	return &executor.Spec{ID: id, Command: "true", Env: []string{"PATH=/usr/bin:/bin"}, WorkDir: t.TempDir(), Container: c}
}

func TestRoutes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The "container executor" here is a second process executor: what is
	// tested is the routing, not Docker.
	containers := process.New(process.Config{})
	m := mux.New(process.New(process.Config{}), func(context.Context) (executor.Executor, error) { return containers, nil })

	_, err := m.Start(ctx, spec(t, "p", ""))
	require.NoError(t, err)
	_, err = m.Start(ctx, spec(t, "c", "img"))
	require.NoError(t, err)
	_, err = containers.Inspect(ctx, "c")
	require.NoError(t, err, "the image task went to the container executor")
	_, err = containers.Inspect(ctx, "p")
	require.ErrorIs(t, err, executor.ErrNotFound, "the process task did not")

	_, err = m.Exec(ctx, "p", &executor.ExecSpec{Command: "true"})
	require.ErrorIs(t, err, executor.ErrNotSupported, "the process executor runs no further commands in a task")
	for _, id := range []string{"p", "c"} {
		ch, err := m.Wait(ctx, id)
		require.NoError(t, err)
		require.Equal(t, 0, (<-ch).ExitCode)
		require.NoError(t, m.Destroy(ctx, id, false))
	}
	_, err = m.Wait(ctx, "p")
	require.ErrorIs(t, err, executor.ErrNotFound, "forgotten once destroyed")
}

func TestNoContainerEngine(t *testing.T) {
	t.Parallel()
	m := mux.New(process.New(process.Config{}), func(context.Context) (executor.Executor, error) {
		return nil, errors.New("no engine")
	})
	_, err := m.Start(context.Background(), spec(t, "c", "img"))
	require.ErrorIs(t, err, executor.ErrStartFailed)
	require.ErrorContains(t, err, "no engine")
	hs, err := m.Recoverable(context.Background())
	require.NoError(t, err)
	require.Empty(t, hs)
	err = m.Recover(context.Background(), &executor.Handle{ID: "c", Driver: "docker"})
	require.ErrorIs(t, err, executor.ErrNotRecoverable, "a container handle goes to the container executor")
	require.ErrorContains(t, err, "no engine")
}
