package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/job"
)

// Stream names a task's output stream.
type Stream string

// The output streams.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
	// Both is stdout and stderr, line by line in the order the lines
	// arrived.
	Both Stream = "both"
)

// LogsParams says which output Logs returns.
type LogsParams struct {
	// Stream defaults to Stdout.
	Stream Stream
	// Offset is the byte offset to start at: of the answer to the same
	// parameters, which for one stream without Timestamps and Since is
	// the stream itself.
	Offset int64
	// Follow keeps the stream open until the task has ended and all its
	// output is sent.
	Follow bool
	// Timestamps prefixes each line with the time it arrived (RFC 3339
	// with nanoseconds, UTC, and a space).
	Timestamps bool
	// Since, when not zero, leaves out lines that arrived before it.
	Since time.Time
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
	if p.Timestamps {
		q.Set("timestamps", "true")
	}
	if !p.Since.IsZero() {
		q.Set("since", p.Since.UTC().Format(time.RFC3339Nano))
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
