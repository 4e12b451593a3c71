package api

import "time"

// TaskKey names one attempt of one task.
type TaskKey struct {
	Job     int64 `json:"job"`
	Index   int   `json:"index"`
	Attempt int   `json:"attempt"`
}

// WorkerStatus is a worker as the server last heard of it.
type WorkerStatus struct {
	Worker  string            `json:"worker"`
	Host    string            `json:"host"`
	Pool    string            `json:"pool"`
	Slots   int               `json:"slots"`
	Labels  map[string]string `json:"labels,omitempty"`
	Version string            `json:"version"`
	// Running lists the attempts the worker holds: running, or ended but
	// whose end the server has not yet acknowledged.
	Running []TaskKey `json:"running"`
	// Time is when the worker sent its last heartbeat, by its clock;
	// LastSeen when the server got it.
	Time     time.Time `json:"time"`
	LastSeen time.Time `json:"last_seen"`
	Alive    bool      `json:"alive"`
}

// WorkerList is the answer of GET /v1/workers.
type WorkerList struct {
	Workers []WorkerStatus `json:"workers"`
}

// EnrollRequest is the body of POST /v1/workers.
type EnrollRequest struct {
	ID string `json:"id"`
	// Pool defaults to the default pool.
	Pool string `json:"pool"`
}

// WorkerCredentials are what a worker needs to join: its ID, pool and the
// NKey seed it authenticates to NATS with.
type WorkerCredentials struct {
	ID   string `json:"id"`
	Pool string `json:"pool"`
	// NKey is the public key the server knows the worker by.
	NKey string `json:"nkey"`
	// Seed is the worker's secret, shown once; the server does not keep it.
	Seed string `json:"seed"`
}
