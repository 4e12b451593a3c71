package clitest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/store"
)

// Fixtures records jobs in a server's store before it starts. Errors are
// kept and fail the start.
type Fixtures struct {
	ctx context.Context
	st  *store.Store
	dir datadir.Dir
	err error
}

func seed(dir datadir.Dir, fn func(*Fixtures)) error {
	if _, err := dir.Secure(); err != nil {
		return err
	}
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{Path: dir.DB(), Sync: "normal"})
	if err != nil {
		return err
	}
	f := &Fixtures{ctx: ctx, st: st, dir: dir}
	fn(f)
	if err := st.Close(); f.err == nil {
		f.err = err
	}
	return f.err
}

// Job records spec (with its defaults) as submitted at at, its tasks
// queued, and returns its ID.
func (f *Fixtures) Job(spec job.Spec, at time.Time) int64 {
	if f.err != nil {
		return 0
	}
	var id int64
	id, f.err = f.st.JobInsert(f.ctx, &store.JobInsertParams{Spec: spec.WithDefaults(), SubmittedAt: at, State: job.Queued})
	return id
}

// Set writes tasks whole at at, as the scheduler does: each change of
// state is a history entry stamped at. Each task names its job and index.
func (f *Fixtures) Set(at time.Time, tasks ...*job.Task) {
	if f.err == nil {
		f.err = f.st.TasksPut(f.ctx, tasks, at)
	}
}

// Output appends data to a task's file (datadir.StdoutFile, ...), as a
// worker writes it.
func (f *Fixtures) Output(id int64, index int, name, data string) {
	if f.err != nil {
		return
	}
	path := f.dir.TaskFile(id, index, name)
	if f.err = os.MkdirAll(filepath.Dir(path), 0o700); f.err != nil {
		return
	}
	var w *os.File
	if w, f.err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600); f.err != nil {
		return
	}
	_, f.err = w.WriteString(data)
	if err := w.Close(); f.err == nil {
		f.err = err
	}
	// The sizes an ended task's files have, for HasMoreData.
	var sizes store.Offsets
	for name, n := range map[string]*int64{datadir.StdoutFile: &sizes.Stdout, datadir.StderrFile: &sizes.Stderr, datadir.ResultFile: &sizes.Results} {
		if fi, err := os.Stat(f.dir.TaskFile(id, index, name)); err == nil {
			*n = fi.Size()
		}
	}
	if f.err == nil {
		f.err = f.st.OutputSizesSet(f.ctx, id, index, sizes)
	}
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
