package executor

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/berth-run/berth/job"
)

// Handle is what the caller keeps to find a task again after its own
// restart (see Recoverer). Its State belongs to the executor that made it
// (Driver), which alone decodes it, and says in Version how it is encoded,
// so that an executor reads the handles its earlier versions wrote.
type Handle struct {
	ID     string `json:"id"`
	Driver string `json:"driver"`
	// Version is the version of State's encoding, the executor's own.
	Version int `json:"version,omitempty"`
	// State is the executor's state of the task, as JSON.
	State     json.RawMessage `json:"state,omitempty"`
	StartedAt time.Time       `json:"started_at"`
	// Ident says where the task runs, for people and tools outside berth
	// (the worker puts it in its events); executors go by State.
	Ident Ident `json:"ident,omitzero"`
}

// Ident names a task to the host's own tools.
type Ident struct {
	// PID is the process (and process group) ID, for process tasks.
	PID int `json:"pid,omitempty"`
	// ContainerID is the container, for container tasks; Hostname its host
	// name and Ports the ports it published, as the engine bound them.
	ContainerID string              `json:"container_id,omitempty"`
	Hostname    string              `json:"hostname,omitempty"`
	Ports       []job.PublishedPort `json:"ports,omitempty"`
}

// SetState stores v, JSON-encoded, as the handle's State at version.
func (h *Handle) SetState(version int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("handle %s: encoding the state: %w", h.ID, err)
	}
	h.Version, h.State = version, b
	return nil
}

// DecodeState decodes the handle's State into v, after checking that the
// handle is driver's; an error wraps ErrNotRecoverable.
func (h *Handle) DecodeState(driver string, v any) error {
	if h.Driver != driver {
		return fmt.Errorf("handle %s: driver %q is not %q: %w", h.ID, h.Driver, driver, ErrNotRecoverable)
	}
	if err := json.Unmarshal(h.State, v); err != nil {
		return fmt.Errorf("handle %s: state of version %d: %w: %w", h.ID, h.Version, err, ErrNotRecoverable)
	}
	return nil
}
