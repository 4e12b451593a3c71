package client

import (
	"context"
	"net/http"
	"time"
)

// TaskKey names one attempt of one task.
type TaskKey struct {
	Job     int64 `json:"job"`
	Index   int   `json:"index"`
	Attempt int   `json:"attempt"`
}

// WorkerStatus is a worker as the server last heard of it. It mirrors the
// JSON of server.WorkerStatus, which the client does not import (the server
// package pulls in NATS).
type WorkerStatus struct {
	Worker  string            `json:"worker"`
	Host    string            `json:"host"`
	Pool    string            `json:"pool"`
	Slots   int               `json:"slots"`
	Labels  map[string]string `json:"labels,omitempty"`
	Version string            `json:"version"`
	// Running lists the attempts the worker holds.
	Running  []TaskKey `json:"running"`
	Time     time.Time `json:"time"`
	LastSeen time.Time `json:"last_seen"`
	Alive    bool      `json:"alive"`
}

// Workers lists the workers the server heard from recently.
func (c *Client) Workers(ctx context.Context) ([]WorkerStatus, error) {
	var out struct {
		Workers []WorkerStatus `json:"workers"`
	}
	if err := c.do(ctx, http.MethodGet, "/workers", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Workers, nil
}
