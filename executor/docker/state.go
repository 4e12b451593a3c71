package docker

import (
	"fmt"
	"time"

	"github.com/berth-run/berth/executor"
)

// handleVersion is the version of handleState in the handles the executor
// makes. Version 0 is a handle of berth before handles had a state: it
// carries no container ID, and Recover finds the container by its labels,
// which have not changed.
const handleVersion = 1

// handleState is the executor's part of a Handle (Handle.State).
type handleState struct {
	ContainerID string `json:"container_id"`
}

// newHandle returns the handle of task id in container cid.
func newHandle(id, cid string, startedAt time.Time) *executor.Handle {
	h := &executor.Handle{ID: id, Driver: Driver, StartedAt: startedAt, Ident: executor.Ident{ContainerID: cid}}
	_ = h.SetState(handleVersion, handleState{ContainerID: cid}) // a string always encodes
	return h
}

// containerOf returns the container ID the handle records; "" when it
// records none (version 0), and the container is to be found by labels.
func containerOf(h *executor.Handle) (string, error) {
	if h.Version == 0 && len(h.State) == 0 {
		return "", nil
	}
	if h.Version > handleVersion {
		return "", fmt.Errorf("handle %s: version %d is newer than this executor's %d: %w", h.ID, h.Version, handleVersion, executor.ErrNotRecoverable)
	}
	var st handleState
	if err := h.DecodeState(Driver, &st); err != nil {
		return "", err
	}
	return st.ContainerID, nil
}
