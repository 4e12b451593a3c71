package dispatch

import "time"

// WorkerStatus is a worker as the server last heard of it.
type WorkerStatus struct {
	Heartbeat
	LastSeen time.Time `json:"last_seen"`
	Alive    bool      `json:"alive"`
}
