package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/job"
)

// Wait returns when every job of ids has ended (or, with any, one of them),
// or when timeout (if positive) has passed, then with TimedOut set.
//
// Wait rides out a restart of the server: when the server shuts down or the
// connection breaks while waiting, it asks again, with the time left, until
// the server is back or RestartGrace has passed. No server at the first try
// is an error at once (a *NoServerError).
func (c *Client) Wait(ctx context.Context, ids []int64, any bool, timeout time.Duration) (*api.WaitResult, error) {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	var outage time.Time // when the server went away; zero while it answers
	delay := 100 * time.Millisecond
	for {
		left := timeout
		if timeout > 0 && !outage.IsZero() {
			if left = time.Until(deadline).Round(time.Millisecond); left <= 0 {
				left = time.Millisecond // answers at once, timed out unless done
			}
		}
		r, err := c.waitOnce(ctx, ids, any, left)
		if err == nil || ctx.Err() != nil {
			return r, err
		}
		var apiErr *APIError
		var noServer *NoServerError
		shuttingDown := errors.As(err, &apiErr) && apiErr.Code == api.CodeUnavailable
		// Once the server went away, not finding it is part of its restart.
		if !shuttingDown && !isBrokenConn(err) && (outage.IsZero() || !errors.As(err, &noServer)) {
			return nil, err
		}
		if outage.IsZero() {
			outage = time.Now()
		}
		if time.Since(outage) > RestartGrace {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// RestartGrace is how long Wait keeps asking a server that went away.
const RestartGrace = time.Minute

// isBrokenConn reports an answer cut short: the server died mid-request.
func isBrokenConn(err error) bool {
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

func (c *Client) waitOnce(ctx context.Context, ids []int64, any bool, timeout time.Duration) (*api.WaitResult, error) {
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
	var r api.WaitResult
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
