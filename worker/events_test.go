package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/stretchr/testify/require"
)

// recorder is a send func that records what it sent.
type recorder struct {
	mu   sync.Mutex
	sent []*dispatch.Event
}

func (r *recorder) send(_ context.Context, ev *dispatch.Event) (*dispatch.EventReply, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, ev)
	return &dispatch.EventReply{OK: true, Next: &dispatch.Work{TaskKey: dispatch.TaskKey{Job: 9}}}, nil
}

func (r *recorder) kinds() []dispatch.EventKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ks []dispatch.EventKind
	for _, ev := range r.sent {
		ks = append(ks, ev.Kind)
	}
	return ks
}

// TestEventQueueShortTask checks that a task ending within startedDelay
// sends one event, its end carrying the PID, and gets the handed-over work.
func TestEventQueueShortTask(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	q := newEventQueue(t.Context(), r.send)
	q.push(&dispatch.Event{Kind: dispatch.EventStarted, PID: 42, Time: time.Now()})
	q.push(&dispatch.Event{Kind: dispatch.EventEnded, Time: time.Now()})
	q.close()
	require.NoError(t, q.wait())
	require.Equal(t, []dispatch.EventKind{dispatch.EventEnded}, r.kinds())
	require.Equal(t, 42, r.sent[0].PID)
	require.Equal(t, int64(9), q.next.Job)
}

// TestEventQueueLongTask checks that a task running past startedDelay gets
// its started event sent on its own, and that a control event goes out at
// once, all in order before the end.
func TestEventQueueLongTask(t *testing.T) {
	t.Parallel()
	r := &recorder{}
	q := newEventQueue(t.Context(), r.send)
	q.push(&dispatch.Event{Kind: dispatch.EventStarted, PID: 42, Time: time.Now()})
	require.Eventually(t, func() bool { return len(r.kinds()) == 1 }, 5*time.Second, 5*time.Millisecond)
	q.push(&dispatch.Event{Kind: dispatch.EventSuspended, Time: time.Now()})
	require.Eventually(t, func() bool { return len(r.kinds()) == 2 }, 5*time.Second, 5*time.Millisecond)
	q.push(&dispatch.Event{Kind: dispatch.EventEnded, Time: time.Now()})
	q.close()
	require.NoError(t, q.wait())
	require.Equal(t, []dispatch.EventKind{dispatch.EventStarted, dispatch.EventSuspended, dispatch.EventEnded}, r.kinds())
	require.Zero(t, r.sent[2].PID, "the PID went with the started event")
}

// TestEventQueueGivesUp checks that wait returns the context's error when
// the worker's life ends before the events are sent.
func TestEventQueueGivesUp(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	q := newEventQueue(ctx, func(ctx context.Context, _ *dispatch.Event) (*dispatch.EventReply, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	q.push(&dispatch.Event{Kind: dispatch.EventEnded, Time: time.Now()})
	q.close()
	cancel()
	require.ErrorIs(t, q.wait(), context.Canceled)
}
