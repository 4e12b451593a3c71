package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Claim asks the server for the right to start cl's attempt. It retries
// until the server answers or ctx is done: a worker holding work must know
// whether it may run it.
func (c *Conn) Claim(ctx context.Context, cl *Claim) (*ClaimReply, error) {
	var r ClaimReply
	err := retry(ctx, func() error {
		err := c.request(ctx, SubjectClaim, cl, &r)
		if err != nil {
			c.log.Warn("claim not answered, retrying", "task", cl.TaskKey.String(), "error", err)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claiming %s: %w", cl.TaskKey, noAnswer("the server", err))
	}
	return &r, nil
}

// SendEvent reports ev to the server and retries until the server answered
// OK (it has recorded the event) or ctx is done. The server may be down for
// a while, restarting; the connection reconnects on its own meanwhile.
func (c *Conn) SendEvent(ctx context.Context, ev *Event) (*EventReply, error) {
	var r EventReply
	err := retry(ctx, func() error {
		r = EventReply{}
		err := c.request(ctx, SubjectEvent, ev, &r)
		if err == nil && !r.OK {
			err = errors.New("server refused the event: " + r.Error)
		}
		if err != nil {
			c.log.Warn("event not recorded, retrying", "task", ev.TaskKey.String(), "kind", ev.Kind, "error", err)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sending %s event of %s: %w", ev.Kind, ev.TaskKey, err)
	}
	return &r, nil
}

// PublishHeartbeat publishes hb. While disconnected it is buffered and sent
// on reconnect.
func (c *Conn) PublishHeartbeat(hb *Heartbeat) error {
	data, err := json.Marshal(hb)
	if err != nil {
		return err
	}
	if err := c.nc.Publish(SubjectHeartbeat, data); err != nil {
		return fmt.Errorf("publishing heartbeat: %w", err)
	}
	return nil
}
