package worker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
)

// TestStartFailedWords: the end of an attempt that could not start says
// why in the user's words; a missing command exits 127 as in a shell.
func TestStartFailedWords(t *testing.T) {
	t.Parallel()
	e := startFailed(fmt.Errorf("start 3.0.1: %w", &executor.CommandNotFoundError{Command: "nosuch"}))
	require.Equal(t, job.Failed, e.State)
	require.Equal(t, job.ReasonStartFailed, e.SubState.Kind)
	require.Equal(t, "nosuch: command not found", e.Message)
	require.Equal(t, 127, *e.ExitCode)

	e = startFailed(fmt.Errorf("start 3.0.1: %w: %w", executor.ErrStartFailed, errors.New("working directory: gone")))
	require.Equal(t, "working directory: gone", e.Message)
	require.Nil(t, e.ExitCode)
}
