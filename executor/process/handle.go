package process

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/berth-run/berth/executor"
)

// handleVersion is the version of the State of the handles the executor
// makes: procHandle as JSON. Version 0 is the handle of berth before
// handles had a state, with the same fields at its top level; journals
// written then are still read (see readJournal).
const handleVersion = 1

// procHandle is a task as its handle records it.
type procHandle struct {
	ID string `json:"-"`
	// PID is the process (and process group) ID.
	PID int `json:"pid"`
	// StartTicks is the process start time from /proc/PID/stat, which tells
	// a recycled PID from the task's; StartSlack, when set, widens it to a
	// range: the process started between StartTicks and
	// StartTicks+StartSlack.
	StartTicks uint64 `json:"start_ticks"`
	StartSlack uint64 `json:"start_slack,omitempty"`
	// handle is the handle it was read from, of version handleVersion.
	handle *executor.Handle
}

// appendState appends p as JSON, as encoding/json writes it (numbers
// only: a handle is made for every task, reflection is not needed).
func (p *procHandle) appendState(b []byte) []byte {
	b = strconv.AppendInt(append(b, `{"pid":`...), int64(p.PID), 10)
	b = strconv.AppendUint(append(b, `,"start_ticks":`...), p.StartTicks, 10)
	if p.StartSlack != 0 {
		b = strconv.AppendUint(append(b, `,"start_slack":`...), p.StartSlack, 10)
	}
	return append(b, '}')
}

// newHandle returns the handle of task p.
func newHandle(p *procHandle, startedAt time.Time) *executor.Handle {
	h := &executor.Handle{ID: p.ID, Driver: Driver, StartedAt: startedAt, Ident: executor.Ident{PID: p.PID},
		Version: handleVersion, State: p.appendState(nil)}
	p.handle = h
	return h
}

// decodeHandle returns the task a handle records; an error wraps
// executor.ErrNotRecoverable.
func decodeHandle(h *executor.Handle) (*procHandle, error) {
	if h.Version != handleVersion {
		return nil, fmt.Errorf("handle %s: version %d, not %d: %w", h.ID, h.Version, handleVersion, executor.ErrNotRecoverable)
	}
	p := &procHandle{ID: h.ID, handle: h}
	if err := h.DecodeState(Driver, p); err != nil {
		return nil, err
	}
	if p.PID <= 1 { // never a task's; kill(-1) would signal every process
		return nil, fmt.Errorf("handle %s: process ID %d: %w", h.ID, p.PID, executor.ErrNotRecoverable)
	}
	return p, nil
}

// decodeJournalHandle decodes a handle as the journal holds it: of this
// version, or of version 0, whose fields are those of procHandle.
func decodeJournalHandle(b []byte) (*procHandle, error) {
	var h executor.Handle
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, err
	}
	if h.Version != 0 || len(h.State) > 0 {
		return decodeHandle(&h)
	}
	p := &procHandle{ID: h.ID}
	if err := json.Unmarshal(b, p); err != nil {
		return nil, err
	}
	if p.PID <= 1 {
		return nil, fmt.Errorf("handle %s: process ID %d", h.ID, p.PID)
	}
	newHandle(p, h.StartedAt)
	return p, nil
}
