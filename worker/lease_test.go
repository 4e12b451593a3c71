package worker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
)

// TestLeaseLapseFences checks that a worker whose heartbeats go unanswered
// stops its task when the lease lapses, reports nothing of it, takes no
// work meanwhile, and works again once the server answers.
func TestLeaseLapseFences(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.fake.mu.Lock()
	b.fake.lease = 400 * time.Millisecond
	b.fake.mu.Unlock()
	b.run(t)

	w := b.work(1, "sleep", "30")
	b.fake.publish(t, w)
	b.fake.next(t, dispatch.EventStarted)
	b.fake.mu.Lock()
	b.fake.silent = true
	b.fake.mu.Unlock()
	require.Eventually(t, func() bool { return len(b.worker.heartbeat().Running) == 0 }, 10*time.Second, 10*time.Millisecond,
		"the fenced task is dropped")
	require.False(t, b.worker.leaseValid())

	// Work published meanwhile waits for the lease.
	w2 := b.work(2, "true")
	b.fake.publish(t, w2)
	select {
	case ev := <-b.fake.events:
		t.Fatalf("a fenced worker reported %+v", ev)
	case <-time.After(time.Second):
	}
	b.fake.mu.Lock()
	b.fake.silent = false
	b.fake.mu.Unlock()
	ev := b.fake.next(t, dispatch.EventStarted)
	require.Equal(t, w2.TaskKey, ev.TaskKey, "runs once the lease is renewed; nothing of job 1")
}

// TestHeartbeatDropStops checks that an attempt the server says it no
// longer grants is stopped and never reported.
func TestHeartbeatDropStops(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.fake.mu.Lock()
	b.fake.lease = 400 * time.Millisecond
	b.fake.mu.Unlock()
	b.run(t)
	w := b.work(1, "sleep", "30")
	b.fake.publish(t, w)
	b.fake.next(t, dispatch.EventStarted)
	b.fake.mu.Lock()
	b.fake.drop = []dispatch.TaskKey{w.TaskKey}
	b.fake.mu.Unlock()
	require.Eventually(t, func() bool { return len(b.worker.heartbeat().Running) == 0 }, 10*time.Second, 10*time.Millisecond)
	select {
	case ev := <-b.fake.events:
		t.Fatalf("a dropped attempt was reported: %+v", ev)
	case <-time.After(500 * time.Millisecond):
	}
}
