package process_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/executor/process"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

func TestCleanup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := process.New(process.Config{StateDir: dir})
	s := shSpec(t, "a/../t", "sleep 1000 & exec sleep 1000")
	h := start(t, a, s)
	ended := shSpec(t, "ended", "true")
	_, err := a.Start(t.Context(), ended)
	require.NoError(t, err)
	wait(t, a, ended.ID)
	require.NoError(t, a.Destroy(t.Context(), ended.ID, false))

	// A restarted worker: same state directory, none of the tasks tracked.
	b := process.New(process.Config{StateDir: dir})
	found, err := b.Cleanup(t.Context())
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, h.ID, found[0].ID)
	require.Equal(t, h.Ident.PID, found[0].Ident.PID)
	require.JSONEq(t, string(h.State), string(found[0].State))
	require.True(t, h.StartedAt.Equal(found[0].StartedAt))

	x := wait(t, a, s.ID)
	require.Equal(t, "SIGKILL", x.Signal)

	found, err = b.Cleanup(t.Context())
	require.NoError(t, err)
	require.Empty(t, found)
}

func TestCleanupKeepsTracked(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{StateDir: t.TempDir()})
	s := shSpec(t, "t", "exec sleep 1000")
	start(t, e, s)
	found, err := e.Cleanup(t.Context())
	require.NoError(t, err)
	require.Empty(t, found)
	requireState(t, e, s.ID, job.Running)
}

func TestRecover(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := process.New(process.Config{StateDir: dir})
	s := shSpec(t, "t", "exec sleep 1000")
	h := start(t, a, s)
	require.NoError(t, a.Recover(t.Context(), h), "a tracked task needs nothing")

	b := process.New(process.Config{})
	// The PID now belongs to another process: leave it alone.
	recycled := *h
	st := handleState(t, h)
	st["start_ticks"] += st["start_slack"] + 1 // past the range the start may be in
	require.NoError(t, recycled.SetState(h.Version, st))
	err := b.Recover(t.Context(), &recycled)
	require.ErrorIs(t, err, executor.ErrNotRecoverable)
	requireState(t, a, s.ID, job.Running)
	require.NotContains(t, []byte{0, 'Z'}, procState(t, h.Ident.PID))

	// The task itself: killed, so that it does not run twice.
	err = b.Recover(t.Context(), h)
	require.ErrorIs(t, err, executor.ErrNotRecoverable)
	require.Equal(t, "SIGKILL", wait(t, a, s.ID).Signal)

	err = b.Recover(t.Context(), &executor.Handle{ID: "x", Driver: "docker"})
	require.ErrorIs(t, err, executor.ErrNotRecoverable)
	err = b.Recover(t.Context(), &executor.Handle{ID: "x", Driver: process.Driver, Version: 2, State: []byte(`{}`)})
	require.ErrorIs(t, err, executor.ErrNotRecoverable, "a handle of a later version")
}

// handleState decodes a handle's state (version 1) into a map.
func handleState(t *testing.T, h *executor.Handle) map[string]uint64 {
	t.Helper()
	require.Equal(t, 1, h.Version)
	var st map[string]uint64
	require.NoError(t, h.DecodeState(process.Driver, &st))
	return st
}

// TestCleanupJournalVersion0: the journal of a worker of an earlier berth,
// whose handles had the process fields at their top level and no version,
// is read: its live task is killed and reported in a handle of this
// version.
func TestCleanupJournalVersion0(t *testing.T) {
	t.Parallel()
	a := process.New(process.Config{})
	s := shSpec(t, "t", "exec sleep 1000")
	h := start(t, a, s)
	st := handleState(t, h)
	dir := t.TempDir()
	line := fmt.Sprintf(`{"start":{"id":"1.0.1","driver":"process","pid":%d,"start_ticks":%d,"start_slack":%d,"started_at":"2026-01-02T03:04:05Z"}}`+"\n",
		st["pid"], st["start_ticks"], st["start_slack"])
	require.NoError(t, os.WriteFile(filepath.Join(dir, "tasks.jsonl"), []byte(line+`{"start":{"id":"gone","driver":"process","pid":0,"start_ticks":1}}`+"\n"+`{"end":"gone"}`+"\n"), 0o600))

	found, err := process.New(process.Config{StateDir: dir}).Cleanup(t.Context())
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, "1.0.1", found[0].ID)
	require.Equal(t, h.Ident.PID, found[0].Ident.PID)
	require.JSONEq(t, string(h.State), string(found[0].State))
	require.Equal(t, "SIGKILL", wait(t, a, s.ID).Signal)
}

func BenchmarkStartWait(b *testing.B) {
	e := process.New(process.Config{})
	s := newSpec(b, "bench", "/bin/true")
	for b.Loop() {
		if _, err := e.Start(b.Context(), s); err != nil {
			b.Fatal(err)
		}
		ch, err := e.Wait(b.Context(), s.ID)
		if err != nil {
			b.Fatal(err)
		}
		if x := <-ch; x.ExitCode != 0 {
			b.Fatalf("exit %+v", x)
		}
		if err := e.Destroy(b.Context(), s.ID, false); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCleanupCutShortJournal: a journal line cut short by a crash is
// skipped, and what came before it still counts.
func TestCleanupCutShortJournal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := process.New(process.Config{StateDir: dir})
	s := shSpec(t, "t", "exec sleep 1000")
	h := start(t, a, s)
	f, err := os.OpenFile(filepath.Join(dir, "tasks.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	_, err = f.WriteString(`{"start":{"id":"half`)
	require.NoError(t, err)
	require.NoError(t, f.Close())

	found, err := process.New(process.Config{StateDir: dir}).Cleanup(t.Context())
	require.NoError(t, err)
	require.Len(t, found, 1)
	require.Equal(t, h.ID, found[0].ID)
	require.Equal(t, "SIGKILL", wait(t, a, s.ID).Signal)
}

// TestJournalForVersion0: a start line also holds the fields of version 0
// at the top level, for a berth of that version (a reaper not restarted
// yet) reading the journal.
func TestJournalForVersion0(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := process.New(process.Config{StateDir: dir})
	s := shSpec(t, "t", "true")
	h := start(t, e, s)
	wait(t, e, s.ID)
	b, err := os.ReadFile(filepath.Join(dir, "tasks.jsonl"))
	require.NoError(t, err)
	var line struct {
		Start struct {
			ID         string `json:"id"`
			Version    int    `json:"version"`
			PID        int    `json:"pid"`
			StartTicks uint64 `json:"start_ticks"`
		} `json:"start"`
	}
	require.NoError(t, json.Unmarshal(bytes.SplitN(b, []byte("\n"), 2)[0], &line))
	require.Equal(t, "t", line.Start.ID)
	require.Equal(t, 1, line.Start.Version)
	require.Equal(t, h.Ident.PID, line.Start.PID)
	require.Equal(t, handleState(t, h)["start_ticks"], line.Start.StartTicks)
}
