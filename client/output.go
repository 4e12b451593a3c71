package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/job"
)

// Stream names a task's output stream.
type Stream string

// The output streams.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// LogsParams says which output Logs returns.
type LogsParams struct {
	// Stream defaults to Stdout.
	Stream Stream
	// Offset is the byte offset to start at.
	Offset int64
	// Follow keeps the stream open until the task has ended and all its
	// output is sent.
	Follow bool
}

// Logs returns a task's raw output. The caller must close it; canceling ctx
// ends a followed stream.
func (c *Client) Logs(ctx context.Context, ref job.Ref, p LogsParams) (io.ReadCloser, error) {
	q := url.Values{}
	if p.Stream != "" {
		q.Set("stream", string(p.Stream))
	}
	if p.Offset > 0 {
		q.Set("offset", strconv.FormatInt(p.Offset, 10))
	}
	if p.Follow {
		q.Set("follow", "true")
	}
	req, err := c.request(ctx, http.MethodGet, "/tasks/"+ref.String()+"/logs", q, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// Results returns the JSON values a task wrote to $BERTH_RESULT, as sent.
func (c *Client) Results(ctx context.Context, ref job.Ref) ([]json.RawMessage, error) {
	var out api.Results
	if err := c.do(ctx, http.MethodGet, "/tasks/"+ref.String()+"/results", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// Receive returns, for each ref in turn, what its tasks produced since the
// last receive, and moves the read marks past it unless keep. Tasks with
// nothing new are left out. On an error it returns what it received before
// it, with the error. The server returns at most 16 MiB per ref and call.
func (c *Client) Receive(ctx context.Context, refs []job.Ref, keep bool) ([]api.Received, error) {
	q := url.Values{}
	if keep {
		q.Set("keep", "true")
	}
	var all []api.Received
	for _, ref := range refs {
		var out api.ReceiveResult
		if err := c.do(ctx, http.MethodPost, "/jobs/"+ref.String()+"/receive", q, nil, &out); err != nil {
			return all, err
		}
		all = append(all, out.Tasks...)
	}
	return all, nil
}
