package process

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/stretchr/testify/require"
)

// TestJournalRecords checks that the journal lines written without
// encoding/json are what it writes, for every kind of ID and handle, and
// that the journal reads them back.
func TestJournalRecords(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 8, 0, 9, 51, 123456789, time.FixedZone("x", 3600))
	var recs []record
	for _, id := range []string{"2.998.1", "7.0.3", `a"b`, "x\\y", "é", "tab\there", "<&>"} {
		recs = append(recs, record{End: id})
		for _, p := range []*procHandle{
			{ID: id, PID: 4242, StartTicks: 123456789},
			{ID: id, PID: 7, StartTicks: 1, StartSlack: 3},
		} {
			h := newHandle(p, at)
			recs = append(recs, record{Start: &journalStart{Handle: h, PID: p.PID, StartTicks: p.StartTicks, StartSlack: p.StartSlack}})
			want, err := json.Marshal(p)
			require.NoError(t, err)
			require.Equal(t, string(want), string(h.State), "state of %+v", p)
		}
	}
	// Handles this executor does not write take encoding/json's way.
	recs = append(recs,
		record{Start: &journalStart{Handle: &executor.Handle{ID: "c", Driver: "docker", Ident: executor.Ident{ContainerID: "abc"}}, PID: 9}},
		record{Start: &journalStart{Handle: &executor.Handle{ID: "v0", Driver: Driver, StartedAt: at.UTC()}, PID: 9, StartTicks: 2}})
	plain := 0
	for _, r := range recs {
		want, err := json.Marshal(r)
		require.NoError(t, err)
		if got, ok := r.appendPlain(nil); ok {
			require.Equal(t, string(want), string(got))
			plain++
		}
	}
	require.Equal(t, 2*3+1, plain, "the records of plain IDs, and a handle of version 0")

	dir := t.TempDir()
	e := &Executor{stateDir: dir}
	for _, p := range []*procHandle{{ID: "3.1.1", PID: 4242, StartTicks: 99, StartSlack: 2}, {ID: "3.2.1", PID: 4243, StartTicks: 100}} {
		newHandle(p, at)
		require.NoError(t, e.writeState(p))
	}
	require.NoError(t, e.appendRecord(record{End: "3.2.1"}))
	e.journal.Close()
	b, err := os.ReadFile(filepath.Join(dir, journalName))
	require.NoError(t, err)
	require.Equal(t, 3, strings.Count(string(b), "\n"), string(b))
	live, err := e.readJournal()
	require.NoError(t, err)
	require.Len(t, live, 1)
	require.Equal(t, "3.1.1", live[0].ID)
	require.Equal(t, 4242, live[0].PID)
	require.Equal(t, uint64(99), live[0].StartTicks)
	require.Equal(t, uint64(2), live[0].StartSlack)
}
