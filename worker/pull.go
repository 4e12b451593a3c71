package worker

import (
	"context"
	"sync"
	"time"

	"github.com/berth-run/berth/dispatch"
)

// pullWait is how long one pull request waits for work at the server. It
// is a long poll, not a period: work is handed over as soon as it arrives.
// It is shorter than the lease and its grace, so that the pulls of a worker
// that froze or was cut off have expired by the time the server runs its
// tasks again: JetStream would hand that work to them.
const pullWait = 5 * time.Second

// Retry pacing of failed pulls (server restarting).
const (
	pullRetryMin = 100 * time.Millisecond
	pullRetryMax = 5 * time.Second
)

// pull runs one fetch loop per slot until ctx is done. Each loop asks for
// one message at a time and asks again as soon as its task's end is
// recorded, so a free slot never waits on another's pull, and the worker
// never holds more work than it has slots (but for acks in flight).
func (w *Worker) pull(ctx context.Context, src *dispatch.WorkSource) {
	var wg sync.WaitGroup
	for i := range w.cfg.Slots {
		wg.Go(func() { w.slot(ctx, src, &slotState{n: i + 1}) })
	}
	wg.Wait()
}

// slot is one fetch loop. Tasks run in goroutines of w.wg, so that when
// ctx is done the loop returns at once and shutdown can stop them.
func (w *Worker) slot(ctx context.Context, src *dispatch.WorkSource, sl *slotState) {
	defer sl.closeSession()
	retryWait := pullRetryMin
	for {
		// A fenced worker takes no work until a heartbeat is answered.
		if w.waitLease(ctx) != nil {
			return
		}
		// An idle session waits for a task of its step no longer than
		// SessionIdle.
		wait := pullWait
		if sl.sess != nil {
			if wait = min(wait, time.Until(sl.idleUntil)); wait <= 0 {
				sl.closeSession()
				wait = pullWait
			}
		}
		var got *dispatch.Delivery
		err := src.Fetch(ctx, 1, wait, func(d *dispatch.Delivery) { got = d })
		if got == nil && sl.sess != nil && !time.Now().Before(sl.idleUntil) {
			sl.closeSession()
		}
		if got != nil {
			done := make(chan struct{})
			w.wg.Go(func() {
				defer close(done)
				w.runTask(ctx, got, sl)
			})
			select {
			case <-done:
			case <-ctx.Done():
				return
			}
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			w.log.Warn("pulling work failed, retrying", "error", err, "in", retryWait)
			select {
			case <-time.After(retryWait):
			case <-ctx.Done():
				return
			}
			retryWait = min(2*retryWait, pullRetryMax)
			continue
		}
		retryWait = pullRetryMin
	}
}
