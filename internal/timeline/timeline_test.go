package timeline

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestWriteRead(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "times")
	w, err := New(path, false)
	require.NoError(t, err)
	_, err = os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "created with the first record")
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	require.NoError(t, w.RecordAt(Stdout, 4, t0))
	require.NoError(t, w.RecordAt(Stderr, 2, t0.Add(time.Second)))
	require.NoError(t, w.Record(Stdout, 0)) // nothing
	r, err := OpenReader(path)
	require.NoError(t, err)
	defer r.Close()
	got, err := r.Next()
	require.NoError(t, err)
	require.Equal(t, []Chunk{{File: Stdout, Start: 0, End: 4, Time: t0}, {File: Stderr, Start: 0, End: 2, Time: t0.Add(time.Second)}}, got)

	// Buffered records appear at Flush; a partial record is not read.
	require.NoError(t, w.Close())
	w, err = Resume(path, [2]int64{10, 2}, true)
	require.NoError(t, err)
	require.NoError(t, w.RecordAt(Stdout, 1, t0.Add(2*time.Second)))
	got, err = r.Next()
	require.NoError(t, err)
	require.Empty(t, got)
	require.NoError(t, w.Close())
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.Write([]byte{1, 2, 3})
	require.NoError(t, err)
	require.NoError(t, f.Close())
	got, err = r.Next()
	require.NoError(t, err)
	// Sizes, not lengths: what no record named (4 to 10) goes with the next.
	require.Equal(t, []Chunk{{File: Stdout, Start: 4, End: 11, Time: t0.Add(2 * time.Second)}}, got)

	// A resumed writer drops the partial record.
	w, err = Resume(path, [2]int64{11, 2}, false)
	require.NoError(t, err)
	require.NoError(t, w.RecordAt(Stderr, 3, t0.Add(3*time.Second)))
	require.NoError(t, w.Close())
	got, err = r.Next()
	require.NoError(t, err)
	require.Equal(t, []Chunk{{File: Stderr, Start: 2, End: 5, Time: t0.Add(3 * time.Second)}}, got)

	// A new attempt truncates.
	w, err = New(path, false)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, int64(RecordSize), fi.Size())
}

func TestNotATimeline(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "times")
	require.NoError(t, os.WriteFile(path, make([]byte, 2*RecordSize), 0o600))
	r, err := OpenReader(path)
	require.NoError(t, err)
	defer r.Close()
	_, err = r.Next()
	require.ErrorIs(t, err, ErrFormat)
}
