package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/store"
)

// receiveBudgetDefault bounds the output and results one receive returns;
// the rest comes with the next.
const receiveBudgetDefault = 16 << 20

// receivePage is how many tasks of an array receive reads from the store at
// a time.
const receivePage = 1000

// text returns b as text with invalid UTF-8 replaced and, when there was
// any, b in base64 so no byte is lost.
func text(b []byte) (string, string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), base64.StdEncoding.EncodeToString(b)
}

func (s *Server) receive(w http.ResponseWriter, r *http.Request) {
	ref, err := pathRef(r, "ref")
	q := newQuery(r)
	keep := q.boolean("keep")
	if err == nil {
		err = q.Err()
	}
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	ctx := r.Context()
	rc := receiver{s: s, keep: keep, budget: s.receiveBudget, out: []api.Received{}}
	if ref.HasIndex {
		t, err := s.oneTask(ctx, ref)
		if err == nil {
			err = rc.task(ctx, t)
		}
		if err != nil {
			s.writeError(w, r, err, ref)
			return
		}
	} else if err := rc.job(ctx, ref.Job); err != nil {
		s.writeError(w, r, err, ref)
		return
	}
	writeJSON(w, http.StatusOK, api.ReceiveResult{Tasks: rc.out})
}

// receiver gathers what tasks produced since their last receive, within a
// byte budget.
type receiver struct {
	s      *Server
	keep   bool
	budget int64
	out    []api.Received
}

// job reads the new output of a job's tasks, in index order; of an OpenJD
// job's, step by step.
func (rc *receiver) job(ctx context.Context, id int64) error {
	j, err := rc.s.cfg.Store.JobGet(ctx, id)
	if err != nil {
		return err
	}
	for _, step := range j.Steps {
		if err := rc.job(ctx, step); err != nil && !errors.Is(err, job.ErrNotFound) {
			return err
		}
	}
	p := store.TaskListParams{JobID: id, AfterIndex: -1, Limit: receivePage}
	for rc.budget > 0 {
		tasks, err := rc.s.cfg.Store.TaskList(ctx, &p)
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if err := rc.task(ctx, t); err != nil {
				return err
			}
		}
		if len(tasks) < p.Limit {
			return nil
		}
		p.AfterIndex = tasks[len(tasks)-1].Index
	}
	return nil
}

// task reads one task's new output from its receive offsets. The state is
// read before the files, so an ended task's files are complete.
func (rc *receiver) task(ctx context.Context, t *job.Task) error {
	if rc.budget <= 0 {
		return nil
	}
	st := rc.s.cfg.Store
	off, err := st.ReceiveOffsets(ctx, t.JobID, t.Index)
	if err != nil {
		return err
	}
	ended := t.State.Terminal()
	var sizes store.Offsets
	rt := api.Received{Ref: t.Ref().String(), Name: t.Name, Input: t.Input, State: t.State, SubState: t.SubState, ExitCode: t.ExitCode}
	next := off

	var out []byte
	if out, sizes.Stdout, err = rc.readText(rc.s.taskFile(t, datadir.StdoutFile), off.Stdout, ended); err != nil {
		return err
	}
	next.Stdout += int64(len(out))
	rt.Stdout, rt.StdoutBase64 = text(out)

	if out, sizes.Stderr, err = rc.readText(rc.s.taskFile(t, datadir.StderrFile), off.Stderr, ended); err != nil {
		return err
	}
	next.Stderr += int64(len(out))
	rt.Stderr, rt.StderrBase64 = text(out)

	var used int64
	if rt.Results, used, sizes.Results, err = rc.readResults(rc.s.taskFile(t, datadir.ResultFile), off.Results, ended); err != nil {
		return err
	}
	next.Results += used

	if next == off {
		return nil // nothing new
	}
	rc.out = append(rc.out, rt)
	if rc.keep {
		return nil
	}
	return st.ReceiveOffsetsSet(ctx, t.JobID, t.Index, next, sizes)
}

// open opens a task file at off and returns it with its size; a missing
// file is nil with size 0.
func open(path string, off int64) (*os.File, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// readText reads a file from off to its current size, within the budget.
// It returns the bytes and the size seen. Unless the file is complete
// (ended) and read to its end, an incomplete UTF-8 sequence at the end is
// left for next time rather than broken.
func (rc *receiver) readText(path string, off int64, ended bool) ([]byte, int64, error) {
	f, size, err := open(path, off)
	if f == nil || err != nil {
		return nil, size, err
	}
	defer f.Close()
	n := min(size-off, rc.budget)
	if n <= 0 {
		return nil, size, nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, size, err
	}
	if !ended || off+n < size {
		b = b[:len(b)-partialRune(b)]
	}
	rc.budget -= int64(len(b))
	return b, size, nil
}

// partialRune returns how many bytes at the end of b are an incomplete
// UTF-8 sequence.
func partialRune(b []byte) int {
	for i := 1; i <= utf8.UTFMax-1 && i <= len(b); i++ {
		c := b[len(b)-i]
		if utf8.RuneStart(c) {
			if c >= utf8.RuneSelf && !utf8.FullRune(b[len(b)-i:]) {
				return i
			}
			return 0
		}
	}
	return 0
}

// readResults reads result lines from off on, within the budget. It
// returns the values, the bytes they took and the file's size.
func (rc *receiver) readResults(path string, off int64, ended bool) ([]json.RawMessage, int64, int64, error) {
	f, size, err := open(path, off)
	if f == nil || err != nil {
		return []json.RawMessage{}, 0, size, err
	}
	defer f.Close()
	if off >= size {
		return []json.RawMessage{}, 0, size, nil
	}
	// Nothing returned yet in this call: let one line past the budget through.
	firstFree := rc.budget == rc.s.receiveBudget
	vals, used, err := readResults(io.LimitReader(f, size-off), rc.budget, firstFree, ended)
	rc.budget -= used
	return vals, used, size, err
}
