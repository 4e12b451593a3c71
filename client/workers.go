package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/berth-run/berth/api"
)

// Workers lists the workers the server heard from recently.
func (c *Client) Workers(ctx context.Context) ([]api.WorkerStatus, error) {
	var out api.WorkerList
	if err := c.do(ctx, http.MethodGet, "/workers", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Workers, nil
}

// EnrollWorker makes an identity for worker id of pool (empty: the default
// pool), replacing any it had.
func (c *Client) EnrollWorker(ctx context.Context, id, pool string) (*api.WorkerCredentials, error) {
	var out api.WorkerCredentials
	body := api.EnrollRequest{ID: id, Pool: pool}
	if err := c.do(ctx, http.MethodPost, "/workers", nil, body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeWorker removes worker id's identity; it is disconnected.
func (c *Client) RevokeWorker(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/workers/"+url.PathEscape(id), nil, nil, nil)
}
