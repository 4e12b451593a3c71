package scheduler

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/stretchr/testify/require"
)

// breakingDispatcher is a fakeDispatcher whose work stream can break as a
// full disk breaks JetStream's: publishes fail until RepairWork makes it
// anew, which loses what it held.
type breakingDispatcher struct {
	*fakeDispatcher
	mu      sync.Mutex
	broken  bool
	repairs int
}

func (d *breakingDispatcher) PublishWork(ctx context.Context, w *dispatch.Work) error {
	d.mu.Lock()
	broken := d.broken
	d.mu.Unlock()
	if broken {
		return errors.New("publish not acknowledged")
	}
	return d.fakeDispatcher.PublishWork(ctx, w)
}

func (d *breakingDispatcher) RepairWork(context.Context) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.broken {
		return false, nil
	}
	d.broken = false
	d.repairs++
	d.fakeDispatcher.take() // the new stream is empty
	return true, nil
}

// TestRepairWorkStream breaks the work stream while a task waits in it: the
// next publish fails, the scheduler has the stream made anew and publishes
// again both the failed task and the one the old stream lost, with their
// attempts unchanged.
func TestRepairWorkStream(t *testing.T) {
	t.Parallel()
	disp := &breakingDispatcher{fakeDispatcher: &fakeDispatcher{}}
	b := setupIn(t, t.TempDir(), Config{DefaultSlots: 2, Dispatcher: disp})
	first := b.submit(t, cmdSpec("first"))
	b.s.flush()
	disp.mu.Lock()
	disp.broken = true
	disp.mu.Unlock()
	second := b.submit(t, cmdSpec("second"))

	var again []*dispatch.Work
	for deadline := time.Now().Add(20 * time.Second); len(again) < 2 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		b.s.flush()
		again = append(again, disp.take()...)
	}
	require.Len(t, again, 2)
	require.ElementsMatch(t, []dispatch.TaskKey{{Job: first, Attempt: 1}, {Job: second, Attempt: 1}},
		[]dispatch.TaskKey{again[0].TaskKey, again[1].TaskKey})
	require.Equal(t, 1, disp.repairs)
	for _, w := range again {
		b.run(t, w)
		b.end(t, w, 0)
	}
}
