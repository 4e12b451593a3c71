package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// RequestTimeout bounds one attempt of a request (claim, event, control)
// when the caller's context allows longer.
const RequestTimeout = 5 * time.Second

// request sends v as JSON on subj and decodes the reply into out: one attempt.
func (c *Conn) request(ctx context.Context, subj string, v, out any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(rctx, subj, data)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(msg.Data, out); err != nil {
		return fmt.Errorf("bad reply on %s: %w", subj, err)
	}
	return nil
}

// retry calls attempt until it returns nil or ctx is done, waiting longer
// after each failure. It returns the last failure wrapped with ctx's error.
func retry(ctx context.Context, attempt func() error) error {
	b := newBackoff()
	for {
		err := attempt()
		if err == nil {
			return nil
		}
		if sleepCtx(ctx, b.next()) != nil {
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		}
	}
}

// respond replies to a request with v as JSON.
func respond(m *nats.Msg, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return m.Respond(data)
}

// noAnswer turns the error of an unanswered request into one that says so.
func noAnswer(who string, err error) error {
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%s did not answer: nobody listens", who)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return fmt.Errorf("%s did not answer in time: %w", who, err)
	}
	return fmt.Errorf("%s did not answer: %w", who, err)
}
