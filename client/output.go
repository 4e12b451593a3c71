package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

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
	var out struct {
		Results []json.RawMessage `json:"results"`
	}
	if err := c.do(ctx, http.MethodGet, "/tasks/"+ref.String()+"/results", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// Received is what one task produced since the last receive. Stdout and
// Stderr are text with invalid UTF-8 replaced by U+FFFD; when there was
// any, StdoutBase64 or StderrBase64 holds the exact bytes (see
// StdoutBytes).
type Received struct {
	Ref string `json:"ref"`
	// Name is the job's name; Input the task's input line, for jobs
	// submitted with inputs (run --each).
	Name         string            `json:"name,omitempty"`
	Input        string            `json:"input,omitempty"`
	State        job.State         `json:"state"`
	SubState     job.SubState      `json:"substate,omitzero"`
	ExitCode     *int              `json:"exit_code,omitempty"`
	Stdout       string            `json:"stdout"`
	StdoutBase64 string            `json:"stdout_base64,omitempty"`
	Stderr       string            `json:"stderr"`
	StderrBase64 string            `json:"stderr_base64,omitempty"`
	Results      []json.RawMessage `json:"results"`
}

// StdoutBytes returns the task's new stdout byte for byte.
func (r *Received) StdoutBytes() ([]byte, error) { return exact(r.Stdout, r.StdoutBase64) }

// StderrBytes returns the task's new stderr byte for byte.
func (r *Received) StderrBytes() ([]byte, error) { return exact(r.Stderr, r.StderrBase64) }

func exact(text, b64 string) ([]byte, error) {
	if b64 == "" {
		return []byte(text), nil
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("decoding output: %w", err)
	}
	return b, nil
}

// Receive returns, for each ref in turn, what its tasks produced since the
// last receive, and moves the read marks past it unless keep. Tasks with
// nothing new are left out. On an error it returns what it received before
// it, with the error. The server returns at most 16 MiB per ref and call.
func (c *Client) Receive(ctx context.Context, refs []job.Ref, keep bool) ([]Received, error) {
	q := url.Values{}
	if keep {
		q.Set("keep", "true")
	}
	var all []Received
	for _, ref := range refs {
		var out struct {
			Tasks []Received `json:"tasks"`
		}
		if err := c.do(ctx, http.MethodPost, "/jobs/"+ref.String()+"/receive", q, nil, &out); err != nil {
			return all, err
		}
		all = append(all, out.Tasks...)
	}
	return all, nil
}
