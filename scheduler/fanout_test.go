package scheduler

import (
	"sync"
	"testing"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

// TestSubscribeOwnLock: subscribing and unsubscribing do not wait for the
// scheduler's lock (a deadlock here fails the test by its timeout).
func TestSubscribeOwnLock(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	b.s.mu.Lock()
	events, cancel := b.s.Subscribe(4)
	cancel()
	b.s.mu.Unlock()
	_, open := <-events
	require.False(t, open, "closed by its cancel")
}

// TestEventsInCommitOrder: subscribers get every committed change, numbered
// in order; one that falls behind is dropped, the others are not.
func TestEventsInCommitOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 1})
	events, cancel := b.s.Subscribe(64)
	defer cancel()
	slow, cancelSlow := b.s.Subscribe(1)
	defer cancelSlow()

	id := b.submit(t, cmdSpec("x"))
	w := b.take()[0]
	b.run(t, w)
	_, err := b.s.HandleEvent(b.ctx, &dispatch.Event{TaskKey: w.TaskKey, Worker: "w1", Kind: dispatch.EventSuspended})
	require.NoError(t, err)
	b.end(t, w, 0)

	var got []job.State
	var last uint64
	for range 3 {
		e := <-events
		require.Equal(t, id, e.Job)
		require.Greater(t, e.Seq, last)
		last = e.Seq
		got = append(got, e.State)
	}
	require.Equal(t, []job.State{job.Running, job.Suspended, job.Done}, got)
	require.Empty(t, events, "nothing else")

	e, ok := <-slow
	require.True(t, ok)
	require.Equal(t, job.Running, e.State, "the one event it had room for")
	_, ok = <-slow
	require.False(t, ok, "dropped when its buffer was full")
}

// TestFanoutConcurrent subscribes and unsubscribes while jobs run, for the
// race detector.
func TestFanoutConcurrent(t *testing.T) {
	t.Parallel()
	b := setup(t, Config{DefaultSlots: 2})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				events, cancel := b.s.Subscribe(2)
				select {
				case <-events:
				case <-stop:
				}
				cancel()
				cancel() // twice is harmless
			}
		}()
	}
	for range 20 {
		b.submit(t, cmdSpec("x"))
		for _, w := range b.take() {
			b.run(t, w)
			b.end(t, w, 0)
		}
	}
	close(stop)
	wg.Wait()
}
