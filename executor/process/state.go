package process

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/berth-run/berth/executor"
	"golang.org/x/sys/unix"
)

// journalName is the file in StateDir where the executor notes each task
// it starts and each it forgets: one appended line each, so that a
// restarted worker finds what the last one left running. An append costs a
// few microseconds; creating and removing a file per task cost a hundred or
// more on common file systems.
const journalName = "tasks.jsonl"

// compactAfter is how many lines the journal may grow to before Cleanup, or
// a forget with nothing running, empties it.
const compactAfter = 10000

// record is one journal line.
type record struct {
	Start *journalStart `json:"start,omitempty"`
	End   string        `json:"end,omitempty"`
}

// journalStart notes a started task: its handle, with the fields of a
// handle of version 0 at the top level as well, so that the berth before
// (a reaper not yet restarted on the new binary) still reads the journal.
type journalStart struct {
	*executor.Handle
	PID        int    `json:"pid"`
	StartTicks uint64 `json:"start_ticks"`
	StartSlack uint64 `json:"start_slack,omitempty"`
}

// appendRecord writes one journal line. No fsync: the journal guards
// against a crash of the worker process, after which the page cache still
// has it, and an OS crash ends the tasks too. A line is one write, so a
// crash leaves it whole or cut short (skipped when read).
func (e *Executor) appendRecord(r record) error {
	if e.stateDir == "" {
		return nil
	}
	b, ok := r.appendPlain(nil)
	if !ok {
		var err error
		if b, err = json.Marshal(r); err != nil {
			return err
		}
	}
	e.jmu.Lock()
	defer e.jmu.Unlock()
	if e.journal == nil {
		if err := os.MkdirAll(e.stateDir, 0o700); err != nil {
			return fmt.Errorf("state directory: %w", err)
		}
		f, err := os.OpenFile(filepath.Join(e.stateDir, journalName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("opening the task journal: %w", err)
		}
		e.journal = f
	}
	if _, err := e.journal.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing the task journal: %w", err)
	}
	e.jlines++
	return nil
}

// appendPlain appends r as encoding/json writes it, for the records of
// every task (a process task's start, any end), which need no reflection;
// ok is false for others.
func (r record) appendPlain(b []byte) (_ []byte, ok bool) {
	if r.Start == nil {
		if !plainID(r.End) {
			return b, false
		}
		return append(append(append(b, `{"end":"`...), r.End...), `"}`...), true
	}
	s := r.Start
	h := s.Handle
	if h == nil || !plainID(h.ID) || !plainID(h.Driver) || h.Ident.ContainerID != "" ||
		h.StartedAt.Year() < 0 || h.StartedAt.Year() > 9999 {
		return b, false
	}
	b = append(append(append(b, `{"start":{"id":"`...), h.ID...), `","driver":"`...)
	b = append(append(b, h.Driver...), '"')
	if h.Version != 0 {
		b = strconv.AppendInt(append(b, `,"version":`...), int64(h.Version), 10)
	}
	if len(h.State) > 0 {
		var c bytes.Buffer
		if err := json.Compact(&c, h.State); err != nil {
			return b, false
		}
		b = append(append(b, `,"state":`...), c.Bytes()...)
	}
	b = h.StartedAt.AppendFormat(append(b, `,"started_at":"`...), time.RFC3339Nano)
	b = append(b, '"')
	if h.Ident.PID != 0 {
		b = strconv.AppendInt(append(b, `,"ident":{"pid":`...), int64(h.Ident.PID), 10)
		b = append(b, '}')
	}
	b = strconv.AppendInt(append(b, `,"pid":`...), int64(s.PID), 10)
	b = strconv.AppendUint(append(b, `,"start_ticks":`...), s.StartTicks, 10)
	if s.StartSlack != 0 {
		b = strconv.AppendUint(append(b, `,"start_slack":`...), s.StartSlack, 10)
	}
	return append(b, "}}"...), true
}

// plainID says whether id is written as is in a JSON string (encoding/json
// escapes <, > and & as well).
func plainID(id string) bool {
	for i := range len(id) {
		if c := id[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return id != ""
}

// writeState notes a started task.
func (e *Executor) writeState(p *procHandle) error {
	return e.appendRecord(record{Start: &journalStart{Handle: p.handle, PID: p.PID, StartTicks: p.StartTicks, StartSlack: p.StartSlack}})
}

// removeState notes a forgotten task; the journal is emptied when it has
// grown long and no task is tracked.
func (e *Executor) removeState(id string) error {
	if err := e.appendRecord(record{End: id}); err != nil {
		return err
	}
	idle := e.tasks.Len() == 0
	e.jmu.Lock()
	defer e.jmu.Unlock()
	if idle && e.jlines > compactAfter && e.journal != nil {
		if err := e.journal.Truncate(0); err != nil {
			return err
		}
		e.jlines = 0
	}
	return nil
}

// readJournal returns the tasks started and not forgotten, in start order.
// Lines of a journal of an earlier version are read as well.
func (e *Executor) readJournal() ([]*procHandle, error) {
	b, err := os.ReadFile(filepath.Join(e.stateDir, journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	live := map[string]*procHandle{}
	var order []string
	for _, line := range bytes.Split(b, []byte("\n")) {
		var r struct {
			Start json.RawMessage `json:"start"`
			End   string          `json:"end"`
		}
		if len(line) == 0 || json.Unmarshal(line, &r) != nil {
			continue // empty, or cut short by a crash
		}
		switch {
		case len(r.Start) > 0:
			p, err := decodeJournalHandle(r.Start)
			if err != nil || p.ID == "" {
				continue
			}
			if _, ok := live[p.ID]; !ok {
				order = append(order, p.ID)
			}
			live[p.ID] = p
		case r.End != "":
			delete(live, r.End)
		}
	}
	var hs []*procHandle
	for _, id := range order {
		if h, ok := live[id]; ok {
			hs = append(hs, h)
			delete(live, id)
		}
	}
	return hs, nil
}

// killLeftover kills the process group of a task an earlier instance
// started, if its leader still runs: the PID must exist with the same start
// time, else it is now another process. It reports whether it killed.
func (e *Executor) killLeftover(ctx context.Context, h *procHandle) bool {
	if h.PID <= 1 { // kill(-1) would signal every process
		return false
	}
	st, err := readProcStat(h.PID)
	if err != nil || !startMatches(h, st.StartTicks) {
		return false
	}
	if err := unix.Kill(-h.PID, unix.SIGKILL); err != nil && !errors.Is(err, unix.ESRCH) {
		e.log.WarnContext(ctx, "killing leftover task", "task", h.ID, "pgid", h.PID, "err", err)
	}
	// In case the leader left its group.
	unix.Kill(h.PID, unix.SIGKILL)
	e.log.InfoContext(ctx, "killed leftover task", "task", h.ID, "pgid", h.PID)
	return true
}

// Cleanup handles the tasks an earlier instance of the executor left in
// StateDir: it kills those still running, as Recover does, notes them
// forgotten, and returns their handles so that the caller can report them
// lost. Tasks this Executor tracks are left alone.
func (e *Executor) Cleanup(ctx context.Context) ([]*executor.Handle, error) {
	if e.stateDir == "" {
		return nil, nil
	}
	hs, err := e.readJournal()
	if err != nil {
		return nil, fmt.Errorf("cleanup: %w", err)
	}
	var found []*executor.Handle
	for _, h := range hs {
		if err := ctx.Err(); err != nil {
			return found, err
		}
		if e.tasks.Has(h.ID) {
			continue
		}
		e.killLeftover(ctx, h)
		if err := e.removeState(h.ID); err != nil {
			return found, fmt.Errorf("cleanup: %w", err)
		}
		found = append(found, h.handle)
	}
	return found, nil
}
