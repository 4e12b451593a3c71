package server

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// sseReader reads the events and comments of a text/event-stream.
type sseReader struct{ rd *bufio.Reader }

// next returns the next block (lines up to a blank line).
func (s *sseReader) next(t *testing.T) []string {
	t.Helper()
	var lines []string
	for {
		line, err := s.rd.ReadString('\n')
		require.NoError(t, err)
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			return lines
		}
		lines = append(lines, line)
	}
}

// nextEvent skips pings and returns the next event.
func (s *sseReader) nextEvent(t *testing.T) job.Event {
	t.Helper()
	for {
		block := s.next(t)
		if block[0] == ": ping" {
			continue
		}
		require.Len(t, block, 2)
		require.Equal(t, "event: task", block[0])
		var ev job.Event
		require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(block[1], "data: ")), &ev))
		return ev
	}
}

func (b *testBundle) openEvents(t *testing.T, ctx context.Context, query string) *sseReader {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", b.ts.URL+"/v1/events"+query, nil)
	require.NoError(t, err)
	resp, err := b.ts.Client().Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	return &sseReader{rd: bufio.NewReader(resp.Body)}
}

func TestEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	b.submit(t, `{"template":{"command":"x"}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all := b.openEvents(t, ctx, "")
	only2 := b.openEvents(t, ctx, "?job=2")

	b.sched.setState(t, 1, 0, job.Running)
	b.sched.setState(t, 2, 0, job.Done)

	ev := all.nextEvent(t)
	require.Equal(t, int64(1), ev.Job)
	require.Equal(t, job.Running, ev.State)
	ev = all.nextEvent(t)
	require.Equal(t, int64(2), ev.Job)
	require.True(t, ev.JobEnded)

	ev = only2.nextEvent(t)
	require.Equal(t, int64(2), ev.Job)
	require.Equal(t, job.Done, ev.State)

	// A quiet stream gets pings (every 50ms in tests).
	require.Equal(t, []string{": ping"}, only2.next(t))

	b.requireError(t, "GET", "/v1/events?job=x", "", http.StatusBadRequest, "invalid", "job", "positive integer")
}

func TestEventsEndWithSubscription(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := b.openEvents(t, ctx, "")
	b.sched.emit(job.Event{Job: 1, State: job.Running})
	// The scheduler drops a subscription that fell behind (whether the
	// handler keeps up with a burst depends on the machine's load, so the
	// drop is made here): the stream ends.
	b.sched.dropSubscribers()
	for {
		if _, err := s.rd.ReadString('\n'); err != nil {
			break
		}
	}
	require.NoError(t, ctx.Err(), "the stream ended with its subscription")
	require.Zero(t, b.sched.subscribers())
}
