package ui

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/scheduler"
	"github.com/berth-run/berth/store"
)

// dropScheduler hands out subscriptions that the test can drop, as the
// scheduler drops a subscriber that falls behind.
type dropScheduler struct {
	mu   sync.Mutex
	subs []chan job.Event
}

func (f *dropScheduler) Workers() []dispatch.WorkerStatus         { return nil }
func (f *dropScheduler) Stats() []scheduler.PoolStats             { return nil }
func (f *dropScheduler) JobTasks(int64) (map[job.State]int, bool) { return nil, false }
func (f *dropScheduler) Subscribe(buf int) (<-chan job.Event, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan job.Event, buf)
	f.subs = append(f.subs, ch)
	return ch, func() {}
}

// drop closes the newest subscription.
func (f *dropScheduler) drop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.subs[len(f.subs)-1])
}

func (f *dropScheduler) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// TestLiveReset: when the dashboard's subscription is dropped, it
// subscribes again and tells every page to re-read what it shows.
func TestLiveReset(t *testing.T) {
	t.Parallel()
	st, err := store.Open(context.Background(), store.Config{Path: filepath.Join(t.TempDir(), "berth.db"), Sync: "normal"})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	sched := &dropScheduler{}
	u, err := New(Config{Store: st, Scheduler: sched})
	require.NoError(t, err)

	list, stopList := u.Follow(0)
	defer stopList()
	page, stopPage := u.Follow(7)
	defer stopPage()
	require.Equal(t, 1, sched.count(), "one subscription for all pages")

	sched.drop()
	require.Equal(t, LiveReset, <-list)
	require.Equal(t, LiveReset, <-page)
	require.Equal(t, 2, sched.count(), "subscribed again")
}
