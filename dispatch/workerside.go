package dispatch

import (
	"context"
	"errors"
	"fmt"
)

// errNoIdentity is returned by worker-side calls on a connection made
// without ConnectConfig.Worker.
var errNoIdentity = errors.New("dispatch: the connection has no worker identity (ConnectConfig.Worker)")

// Claim asks the server for the right to start cl's attempt. It retries
// until the server answers or ctx is done: a worker holding work must know
// whether it may run it.
func (c *Conn) Claim(ctx context.Context, cl *Claim) (*ClaimReply, error) {
	if c.worker == "" {
		return nil, errNoIdentity
	}
	cl.Worker = c.worker
	var r ClaimReply
	err := retry(ctx, func() error {
		r = ClaimReply{}
		err := c.request(ctx, workerSubject(c.worker, kindClaim), cl, &r)
		if err != nil {
			c.log.Warn("claim not answered, retrying", "task", cl.TaskKey.String(), "error", err)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claiming %s: %w", cl.TaskKey, noAnswer("the server", err))
	}
	if r.OK && (r.Work == nil || r.Work.TaskKey != cl.TaskKey) {
		return nil, fmt.Errorf("claiming %s: the server granted it without its work", cl.TaskKey)
	}
	return &r, nil
}

// ErrRefused is wrapped by SendEvent's error when the server refused the
// event for good: its sender does not hold the task.
var ErrRefused = errors.New("refused by the server")

// SendEvent reports ev to the server and retries until the server answered
// OK (it has recorded the event), refused it for good, or ctx is done. The
// server may be down for a while, restarting; the connection reconnects on
// its own meanwhile.
func (c *Conn) SendEvent(ctx context.Context, ev *Event) (*EventReply, error) {
	if c.worker == "" {
		return nil, errNoIdentity
	}
	ev.Worker = c.worker
	var r EventReply
	err := retry(ctx, func() error {
		r = EventReply{}
		err := c.request(ctx, workerSubject(c.worker, kindEvent), ev, &r)
		switch {
		case err != nil:
		case r.Refused:
			return nil
		case !r.OK:
			err = errors.New("server refused the event: " + r.Error)
		}
		if err != nil {
			c.log.Warn("event not recorded, retrying", "task", ev.TaskKey.String(), "kind", ev.Kind, "error", err)
		}
		return err
	})
	if err == nil && r.Refused {
		err = fmt.Errorf("%w: %s", ErrRefused, r.Error)
	}
	if err != nil {
		return nil, fmt.Errorf("sending %s event of %s: %w", ev.Kind, ev.TaskKey, err)
	}
	return &r, nil
}

// Heartbeat sends hb and returns the server's answer, one attempt of at
// most RequestTimeout: a heartbeat that is not answered is not retried,
// the next one is sent on time.
func (c *Conn) Heartbeat(ctx context.Context, hb *Heartbeat) (*HeartbeatReply, error) {
	if c.worker == "" {
		return nil, errNoIdentity
	}
	hb.Worker = c.worker
	var r HeartbeatReply
	if err := c.request(ctx, workerSubject(c.worker, kindHeartbeat), hb, &r); err != nil {
		return nil, fmt.Errorf("heartbeat: %w", noAnswer("the server", err))
	}
	if !r.OK {
		return nil, fmt.Errorf("heartbeat refused: %s", r.Error)
	}
	return &r, nil
}
