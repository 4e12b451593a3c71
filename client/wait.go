package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/berth-run/berth/job"
)

// WaitResult is the answer of Wait.
type WaitResult struct {
	// Jobs are the awaited jobs, in the order asked.
	Jobs     []*job.Job `json:"jobs"`
	TimedOut bool       `json:"timed_out"`
}

// Wait returns when every job of ids has ended (or, with any, one of them),
// or when timeout (if positive) has passed, then with TimedOut set.
func (c *Client) Wait(ctx context.Context, ids []int64, any bool, timeout time.Duration) (*WaitResult, error) {
	q := url.Values{}
	for _, id := range ids {
		q.Add("id", strconv.FormatInt(id, 10))
	}
	if any {
		q.Set("any", "true")
	}
	if timeout > 0 {
		q.Set("timeout", timeout.String())
	}
	var r WaitResult
	if err := c.do(ctx, http.MethodGet, "/wait", q, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// EventStream is an open stream of task events. Call Close when done.
type EventStream struct {
	body io.ReadCloser
	r    *bufio.Reader
	err  error // sticky: the stream's end
}

// Events opens the server-sent event stream of the given jobs' task
// changes (every job's when jobIDs is empty). It returns once the server
// accepted the request; ctx bounds the whole stream.
func (c *Client) Events(ctx context.Context, jobIDs []int64) (*EventStream, error) {
	q := url.Values{}
	for _, id := range jobIDs {
		q.Add("job", strconv.FormatInt(id, 10))
	}
	req, err := c.request(ctx, http.MethodGet, "/events", q, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := c.send(req)
	if err != nil {
		return nil, err
	}
	return &EventStream{body: resp.Body, r: bufio.NewReader(resp.Body)}, nil
}

// Recv returns the next "task" event. It returns io.EOF when the server
// ended the stream, and the context's error once it is canceled. Comments
// (": ping") and events of other names are skipped.
func (s *EventStream) Recv() (job.Event, error) {
	var name string
	var data bytes.Buffer
	for s.err == nil {
		line, err := s.r.ReadBytes('\n')
		s.err = err
		line = bytes.TrimRight(line, "\r\n")
		if len(line) > 0 {
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "": // a comment
			case "event":
				name = string(value)
			case "data":
				if data.Len() > 0 {
					data.WriteByte('\n')
				}
				data.Write(value)
			}
			if s.err == nil {
				continue
			}
		}
		// A blank line (or the end of the stream) dispatches the event.
		if data.Len() > 0 && (name == "" || name == "task") {
			var ev job.Event
			if err := json.Unmarshal(data.Bytes(), &ev); err != nil {
				return job.Event{}, fmt.Errorf("reading event: %w", err)
			}
			return ev, nil
		}
		name = ""
		data.Reset()
	}
	return job.Event{}, s.err
}

// All yields the stream's events until it ends (then it yields nothing
// more) or fails (then it yields the error last).
func (s *EventStream) All() iter.Seq2[job.Event, error] {
	return func(yield func(job.Event, error) bool) {
		for {
			ev, err := s.Recv()
			if err == io.EOF {
				return
			}
			if !yield(ev, err) || err != nil {
				return
			}
		}
	}
}

// Close ends the stream.
func (s *EventStream) Close() error { return s.body.Close() }
