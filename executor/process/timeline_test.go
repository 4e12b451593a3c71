package process_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/executor/process"
	"github.com/berth-run/berth/internal/timeline"
)

// TestTimeline records when each stream's output arrived, in the order it
// did; an earlier attempt's files are replaced, also with no output.
func TestTimeline(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", "echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2")
	s.Times = filepath.Join(filepath.Dir(s.Stdout), "times")
	start(t, e, s)
	require.Equal(t, 0, wait(t, e, s.ID).ExitCode)
	require.Equal(t, "out1\nout2\n", readFile(t, s.Stdout), "the output files are as written")
	r, err := timeline.OpenReader(s.Times)
	require.NoError(t, err)
	defer r.Close()
	chunks, err := r.Next()
	require.NoError(t, err)
	require.Len(t, chunks, 3)
	for i, want := range []timeline.Chunk{{File: timeline.Stdout, End: 5}, {File: timeline.Stderr, End: 5}, {File: timeline.Stdout, Start: 5, End: 10}} {
		c := chunks[i]
		require.Equal(t, want.File, c.File)
		require.Equal(t, want.Start, c.Start)
		require.Equal(t, want.End, c.End)
		if i > 0 {
			require.True(t, c.Time.After(chunks[i-1].Time))
		}
	}

	// The next attempt writes to stderr only: the files are truncated now,
	// not kept for a first byte that never comes.
	s2 := *s
	s2.ID, s2.Command, s2.Args = "t2", "sh", []string{"-c", "echo again >&2"}
	start(t, e, &s2)
	require.Equal(t, 0, wait(t, e, s2.ID).ExitCode)
	require.Empty(t, readFile(t, s.Stdout))
	require.Equal(t, "again\n", readFile(t, s.Stderr))
	r2, err := timeline.OpenReader(s.Times)
	require.NoError(t, err)
	defer r2.Close()
	chunks, err = r2.Next()
	require.NoError(t, err)
	require.Len(t, chunks, 1)
	require.Equal(t, timeline.Stderr, chunks[0].File)
	_, err = os.Stat(s.Times)
	require.NoError(t, err)
}
