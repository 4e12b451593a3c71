package dispatch

import (
	"context"
	"math/rand/v2"
	"time"
)

// Retry pacing: soon at first (a lost reply), then no more than every few
// seconds (a server restarting).
const (
	backoffMin = 50 * time.Millisecond
	backoffMax = 3 * time.Second
)

type backoff struct{ cur time.Duration }

func newBackoff() *backoff { return &backoff{} }

// next returns the next wait: doubling from backoffMin to backoffMax, with
// up to 25% jitter so many clients do not retry in step.
func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = backoffMin
	} else {
		b.cur = min(2*b.cur, backoffMax)
	}
	return b.cur - time.Duration(rand.Int64N(int64(b.cur/4)+1))
}

// sleepCtx waits for d or until ctx is done, and then returns ctx.Err().
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
