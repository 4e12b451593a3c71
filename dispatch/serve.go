package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// QueueServer is the queue group the server's subscriptions to claims and
// events join, so that of several server replicas only one handles each.
const QueueServer = "berth-server"

// ServeClaims answers claims with handler until ctx is done. Claims are
// handled one at a time, in the order they arrive.
func (c *Conn) ServeClaims(ctx context.Context, handler func(context.Context, *Claim) ClaimReply) (*nats.Subscription, error) {
	return c.serve(ctx, SubjectClaim, QueueServer, func(m *nats.Msg) {
		var cl Claim
		if err := json.Unmarshal(m.Data, &cl); err != nil {
			c.reply(m, ClaimReply{Reason: "bad claim: " + err.Error()})
			return
		}
		c.reply(m, handler(ctx, &cl))
	})
}

// ServeEvents hands events to handler until ctx is done, one at a time in
// the order they arrive. It replies OK only if handler returned nil, so
// handler must have committed the event first; else the worker sends it
// again. The same event may therefore arrive more than once.
func (c *Conn) ServeEvents(ctx context.Context, handler func(context.Context, *Event) (*Work, error)) (*nats.Subscription, error) {
	return c.serve(ctx, SubjectEvent, QueueServer, func(m *nats.Msg) {
		var ev Event
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			c.reply(m, EventReply{Error: "bad event: " + err.Error()})
			return
		}
		next, err := handler(ctx, &ev)
		if err != nil {
			c.reply(m, EventReply{Error: err.Error()})
			return
		}
		c.reply(m, EventReply{OK: true, Next: next})
	})
}

// SubscribeHeartbeats calls f with each worker heartbeat until ctx is done.
// Every subscriber sees every heartbeat.
func (c *Conn) SubscribeHeartbeats(ctx context.Context, f func(*Heartbeat)) (*nats.Subscription, error) {
	return c.serve(ctx, SubjectHeartbeat, "", func(m *nats.Msg) {
		var hb Heartbeat
		if err := json.Unmarshal(m.Data, &hb); err != nil {
			c.log.Warn("dropping a bad heartbeat", "error", err)
			return
		}
		f(&hb)
	})
}

// serve subscribes h to subj (in queue group queue, if not empty) and
// drains the subscription when ctx is done.
func (c *Conn) serve(ctx context.Context, subj, queue string, h nats.MsgHandler) (*nats.Subscription, error) {
	sub, err := c.nc.QueueSubscribe(subj, queue, h)
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", subj, err)
	}
	// Make sure the server knows the subscription before returning, so a
	// request sent right after on another connection finds it. When
	// disconnected, it is sent on reconnect instead.
	_ = c.nc.FlushTimeout(time.Second)
	context.AfterFunc(ctx, func() { _ = sub.Drain() })
	return sub, nil
}

func (c *Conn) reply(m *nats.Msg, v any) {
	if err := respond(m, v); err != nil {
		c.log.Warn("cannot reply", "subject", m.Subject, "error", err)
	}
}
