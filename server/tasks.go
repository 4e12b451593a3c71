package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/store"
)

// refineNotFound turns a job.ErrNotFound about task ref into "no job N"
// when the whole job is missing.
func (s *Server) refineNotFound(r *http.Request, err error, ref job.Ref) error {
	if !errors.Is(err, job.ErrNotFound) || !ref.HasIndex {
		return err
	}
	if _, jerr := s.cfg.Store.JobGet(r.Context(), ref.Job); errors.Is(jerr, job.ErrNotFound) {
		return noJob(ref.Job)
	}
	return notFound(ref)
}

// oneTask returns the single task ref names. A ref without index names the
// only task of a plain job; on an array job it is a 400.
func (s *Server) oneTask(ctx context.Context, ref job.Ref) (*job.Task, error) {
	t, err := s.cfg.Store.TaskGet(ctx, ref.Job, ref.Index)
	if err == nil || !errors.Is(err, job.ErrNotFound) {
		return t, err
	}
	j, jerr := s.cfg.Store.JobGet(ctx, ref.Job)
	switch {
	case errors.Is(jerr, job.ErrNotFound):
		return nil, noJob(ref.Job)
	case jerr != nil:
		return nil, jerr
	case j.HasSteps():
		return nil, invalid("ref", "%s", stepsHint(j))
	case !ref.HasIndex && j.IsArray():
		return nil, invalid("ref", "job %d is an array; name a task as %d.INDEX", ref.Job, ref.Job)
	}
	return nil, notFound(ref)
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request) {
	ref, err := pathRef(r, "ref")
	if err == nil {
		err = newQuery(r).Err()
	}
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	t, err := s.oneTask(r.Context(), ref)
	if err != nil {
		s.writeError(w, r, err, ref)
		return
	}
	h, err := s.cfg.Store.TaskHistory(r.Context(), t.JobID, t.Index)
	if err != nil {
		s.writeError(w, r, err, ref)
		return
	}
	out := api.TaskDetail{Task: *t, History: make([]api.Transition, len(h))}
	for i, tr := range h {
		out.History[i] = transition(tr)
	}
	writeJSON(w, http.StatusOK, out)
}

// transition maps a stored history entry to the API's form.
func transition(tr store.Transition) api.Transition {
	return api.Transition{Attempt: tr.Attempt, State: tr.State, SubState: tr.SubState, Time: tr.Time,
		Message: tr.Message, RetryAt: tr.RetryAt}
}

func (s *Server) results(w http.ResponseWriter, r *http.Request) {
	ref, err := pathRef(r, "ref")
	if err == nil {
		err = newQuery(r).Err()
	}
	if err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	t, err := s.oneTask(r.Context(), ref)
	if err != nil {
		s.writeError(w, r, err, ref)
		return
	}
	f, err := os.Open(s.taskFile(t, datadir.ResultFile))
	if errors.Is(err, os.ErrNotExist) {
		writeJSON(w, http.StatusOK, api.Results{Results: []json.RawMessage{}})
		return
	}
	if err != nil {
		s.writeError(w, r, err, ref)
		return
	}
	defer f.Close()
	res, _, err := readResults(f, -1, false, t.State.Terminal())
	if err != nil {
		s.writeError(w, r, err, ref)
		return
	}
	writeJSON(w, http.StatusOK, api.Results{Results: res})
}

func (s *Server) taskFile(t *job.Task, name string) string {
	return s.cfg.DataDir.TaskFile(t.JobID, t.Index, name)
}

// readResults parses result.jsonl from rd: one JSON value per line, a line
// that is not JSON becoming a JSON string, blank lines skipped. It stops
// before a line that would take the total past budget (unless it is the
// first and firstFree, so that one huge line cannot stall receive), and,
// unless ended, before
// a last line without its newline: the task may still be writing it. It
// returns the values and the bytes consumed, which always end at a line
// boundary. A negative budget means no limit.
func readResults(rd io.Reader, budget int64, firstFree, ended bool) ([]json.RawMessage, int64, error) {
	br := bufio.NewReader(rd)
	out := []json.RawMessage{}
	var used int64
	for {
		line, err := br.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return out, used, err
		}
		if len(line) == 0 || (err == io.EOF && !ended) {
			return out, used, nil
		}
		if budget >= 0 && used+int64(len(line)) > budget && (used > 0 || !firstFree) {
			return out, used, nil
		}
		used += int64(len(line))
		if v := resultValue(line); v != nil {
			out = append(out, v)
		}
		if err == io.EOF {
			return out, used, nil
		}
	}
}

// resultValue returns a result line as a JSON value, nil for a blank line.
func resultValue(line []byte) json.RawMessage {
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return nil
	}
	if json.Valid(line) {
		return json.RawMessage(line)
	}
	b, _ := json.Marshal(string(line)) // invalid UTF-8 becomes U+FFFD
	return b
}
