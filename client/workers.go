package client

import (
	"context"
	"net/http"
	"net/url"
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

// WorkerCredentials are what a worker needs to join: its ID, pool and the
// NKey seed it authenticates to NATS with. The seed is shown once.
type WorkerCredentials struct {
	ID   string `json:"id"`
	Pool string `json:"pool"`
	NKey string `json:"nkey"`
	Seed string `json:"seed"`
}

// EnrollWorker makes an identity for worker id of pool (empty: the default
// pool), replacing any it had.
func (c *Client) EnrollWorker(ctx context.Context, id, pool string) (*WorkerCredentials, error) {
	var out WorkerCredentials
	body := map[string]string{"id": id, "pool": pool}
	if err := c.do(ctx, http.MethodPost, "/workers", nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeWorker removes worker id's identity; it is disconnected.
func (c *Client) RevokeWorker(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/workers/"+url.PathEscape(id), nil, nil, nil)
}
