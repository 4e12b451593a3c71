package worker

import (
	"context"
	"time"

	"github.com/berth-run/berth/dispatch"
)

// pullWait is how long one pull request waits for work at the server. It
// is a long poll, not a period: work is handed over as soon as it arrives.
const pullWait = 30 * time.Second

// Retry pacing of failed pulls (server restarting).
const (
	pullRetryMin = 100 * time.Millisecond
	pullRetryMax = 5 * time.Second
)

// pull fetches work while slots are free, until ctx is done. A slot is a
// token in slots, taken before the fetch asks for a message and given back
// when the task's end is recorded and its work acked.
func (w *Worker) pull(ctx context.Context, src *dispatch.WorkSource) {
	slots := make(chan struct{}, w.cfg.Slots)
	retryWait := pullRetryMin
	for {
		// Take one slot, waiting for it, then every other free one.
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < w.cfg.Slots {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break more
			}
		}

		used := 0
		err := src.Fetch(ctx, n, pullWait, func(d *dispatch.Delivery) {
			used++
			w.wg.Go(func() {
				defer func() { <-slots }()
				w.runTask(ctx, d)
			})
		})
		for range n - used {
			<-slots
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
