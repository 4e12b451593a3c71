package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// WorkSource is a worker's side of its pool's work: it pulls from the
// durable consumer all workers of the pool share, so each Work message goes
// to one of them.
type WorkSource struct {
	c    *Conn
	pool string

	mu   sync.Mutex
	cons jetstream.Consumer // nil until created, or after it vanished
}

// WorkSource returns the source of pool's work. It waits until ctx is done
// for the pool's consumer to exist: the server creates it when it first
// hears from a worker of the pool (EnsureWorkConsumer), since a worker's
// permissions do not let it.
func (c *Conn) WorkSource(ctx context.Context, pool string) (*WorkSource, error) {
	if err := checkPool(pool); err != nil {
		return nil, err
	}
	s := &WorkSource{c: c, pool: pool}
	if _, err := s.consumer(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// consumer returns the pool's consumer, waiting for it to exist.
func (s *WorkSource) consumer(ctx context.Context) (jetstream.Consumer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cons != nil {
		return s.cons, nil
	}
	name := WorkConsumerName(s.pool)
	err := retry(ctx, func() error {
		cons, err := s.c.js.Consumer(ctx, StreamWork, name)
		if err != nil {
			s.c.log.Warn("the work consumer does not exist yet, retrying", "pool", s.pool, "error", err)
			return err
		}
		s.cons = cons
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("finding consumer %s: %w", name, err)
	}
	return s.cons, nil
}

// EnsureWorkConsumer creates pool's consumer, or updates it to the
// configuration this version expects. The server calls it for each pool
// it hears a worker of.
func EnsureWorkConsumer(ctx context.Context, js jetstream.JetStream, pool string) error {
	if err := checkPool(pool); err != nil {
		return err
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, StreamWork, WorkConsumerConfig(pool)); err != nil {
		return fmt.Errorf("creating consumer %s: %w", WorkConsumerName(pool), err)
	}
	return nil
}

// Fetch pulls up to max Work messages, waiting up to wait for them, and
// calls each for every one as it arrives; each takes charge of the Delivery
// and must not block. Fetch returns when max arrived, wait passed or ctx is
// done. Messages that are not Work are terminated (never redelivered).
//
// Messages JetStream sends after ctx is done are not lost: they are
// redelivered after WorkAckWait.
func (s *WorkSource) Fetch(ctx context.Context, max int, wait time.Duration, each func(*Delivery)) error {
	cons, err := s.consumer(ctx)
	if err != nil {
		return err
	}
	fctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	batch, err := cons.Fetch(max, jetstream.FetchContext(fctx))
	if err != nil {
		return s.fetchErr(err)
	}
	for m := range batch.Messages() {
		var w Work
		if err := json.Unmarshal(m.Data(), &w); err != nil {
			s.c.log.Error("dropping a message that is not work", "subject", m.Subject(), "error", err)
			_ = m.Term()
			continue
		}
		each(&Delivery{Work: &w, msg: m})
	}
	err = batch.Error()
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return nil // wait passed
	}
	return s.fetchErr(err)
}

func (s *WorkSource) fetchErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) ||
		errors.Is(err, jetstream.ErrNoHeartbeat) || errors.Is(err, nats.ErrNoResponders) {
		// Looked up again on the next Fetch (a new server store, a server
		// restart that lost the pull request, or the work stream made
		// anew after a write error: no consumer answers the pull, until
		// the server has made it again).
		s.mu.Lock()
		s.cons = nil
		s.mu.Unlock()
	}
	return fmt.Errorf("pulling work of pool %s: %w", s.pool, err)
}

// Delivery is one pulled Work message, held by the worker until the task's
// end is recorded.
type Delivery struct {
	Work *Work
	msg  jetstream.Msg
}

// InProgress tells JetStream the work is still being done, which restarts
// its WorkAckWait.
func (d *Delivery) InProgress() error { return d.msg.InProgress() }

// Ack removes the work from the stream, waiting for JetStream to confirm,
// and tries again a few times. A lost ack only means the work is
// redelivered after WorkAckWait, and then refused by the server at claim time.
func (d *Delivery) Ack(ctx context.Context) error {
	var err error
	b := newBackoff()
	for range ackTries {
		actx, cancel := context.WithTimeout(ctx, ackTimeout)
		err = d.msg.DoubleAck(actx)
		cancel()
		if err == nil || errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
			return nil
		}
		if sleepCtx(ctx, b.next()) != nil {
			break
		}
	}
	return fmt.Errorf("acking work %s: %w", d.Work.TaskKey, err)
}

const (
	ackTries   = 3
	ackTimeout = 2 * time.Second
)

// Nak hands the work back for redelivery at once, to this worker or another.
func (d *Delivery) Nak() error { return d.msg.Nak() }

// NakWithDelay hands the work back for redelivery after delay.
func (d *Delivery) NakWithDelay(delay time.Duration) error { return d.msg.NakWithDelay(delay) }
