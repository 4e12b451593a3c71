package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// QueueServer is the queue group the server's subscriptions to claims and
// events join, so that of several server replicas only one handles each.
const QueueServer = "berth-server"

// ServeClaims answers claims with handler until ctx is done. Claims are
// handled one at a time, in the order they arrive. Claim.Worker is the
// sender's identity, taken from the subject.
func (c *Conn) ServeClaims(ctx context.Context, handler func(context.Context, *Claim) ClaimReply) (*nats.Subscription, error) {
	return c.serve(ctx, workerSubjects(kindClaim), QueueServer, func(m *nats.Msg) {
		var cl Claim
		if err := json.Unmarshal(m.Data, &cl); err != nil {
			c.reply(m, ClaimReply{Reason: "bad claim: " + err.Error()})
			return
		}
		if err := c.identify(m, &cl.Worker, "claim"); err != nil {
			c.reply(m, ClaimReply{Reason: err.Error()})
			return
		}
		c.reply(m, handler(ctx, &cl))
	})
}

// identify sets *who to the worker a message came from, which its subject
// says, and refuses a message that names another worker in its body.
func (c *Conn) identify(m *nats.Msg, who *string, what string) error {
	w := subjectWorker(m.Subject)
	if CheckWorkerID(w) != nil {
		return fmt.Errorf("%s on %s: no worker identity", what, m.Subject)
	}
	if *who != "" && *who != w {
		c.log.Warn("refused a message naming another worker", "kind", what, "sender", w, "names", *who)
		return fmt.Errorf("%s from worker %s names worker %s", what, w, *who)
	}
	*who = w
	return nil
}

// ServeEvents hands events to handler until ctx is done, one at a time in
// the order they arrive. It replies OK only if handler returned nil, so
// handler must have committed the event first; else the worker sends it
// again. The same event may therefore arrive more than once.
func (c *Conn) ServeEvents(ctx context.Context, handler func(context.Context, *Event) (*Work, error)) (*nats.Subscription, error) {
	return c.ServeEventBatches(ctx, func(ctx context.Context, evs []*Event) []EventResult {
		res := make([]EventResult, len(evs))
		for i, ev := range evs {
			res[i].Next, res[i].Err = handler(ctx, ev)
		}
		return res
	})
}

// maxEventBatch bounds the events handed to a batch handler at once.
const maxEventBatch = 64

// ServeEventBatches is ServeEvents for a handler that records several events
// at once: it gets every event that arrived while it handled the last
// batch (one at least, maxEventBatch at most), in order, and returns a
// result for each. A server that commits a batch in one transaction pays
// for one commit where there were several events.
func (c *Conn) ServeEventBatches(ctx context.Context, handler func(context.Context, []*Event) []EventResult) (*nats.Subscription, error) {
	sub, err := c.serve(ctx, workerSubjects(kindEvent), QueueServer, nil)
	if err != nil {
		return nil, err
	}
	go func() {
		msgs := make([]*nats.Msg, 0, maxEventBatch)
		evs := make([]*Event, 0, maxEventBatch)
		for {
			m, err := sub.NextMsg(time.Hour)
			switch {
			case errors.Is(err, nats.ErrBadSubscription), errors.Is(err, nats.ErrConnectionClosed):
				return // drained, or the connection closed for good
			case errors.Is(err, nats.ErrTimeout):
				continue
			case err != nil:
				// A slow consumer lost events, which their workers send
				// again; the next call goes on.
				c.log.Warn("receiving events", "error", err)
				continue
			}
			msgs, evs = msgs[:0], evs[:0]
			for {
				ev := new(Event)
				if err := json.Unmarshal(m.Data, ev); err != nil {
					c.reply(m, EventReply{Error: "bad event: " + err.Error()})
				} else if err := c.identify(m, &ev.Worker, "event"); err != nil {
					c.reply(m, EventReply{Error: err.Error(), Refused: true})
				} else {
					msgs, evs = append(msgs, m), append(evs, ev)
				}
				if n, _, _ := sub.Pending(); n == 0 || len(msgs) == maxEventBatch {
					break
				}
				if m, err = sub.NextMsg(time.Second); err != nil {
					break
				}
			}
			if len(evs) == 0 {
				continue
			}
			for i, r := range handler(ctx, evs) {
				if r.Err != nil {
					c.reply(msgs[i], EventReply{Error: r.Err.Error(), Refused: errors.Is(r.Err, ErrRefused)})
				} else {
					c.reply(msgs[i], EventReply{OK: true, Next: r.Next})
				}
			}
		}
	}()
	return sub, nil
}

// ServeHeartbeats answers worker heartbeats with handler until ctx is
// done. Heartbeat.Worker is the sender's identity, taken from the subject.
// Several servers sharing NATS answer each heartbeat once (QueueServer).
func (c *Conn) ServeHeartbeats(ctx context.Context, handler func(*Heartbeat) HeartbeatReply) (*nats.Subscription, error) {
	return c.serve(ctx, workerSubjects(kindHeartbeat), QueueServer, func(m *nats.Msg) {
		var hb Heartbeat
		if err := json.Unmarshal(m.Data, &hb); err != nil {
			c.reply(m, HeartbeatReply{Error: "bad heartbeat: " + err.Error()})
			return
		}
		if err := c.identify(m, &hb.Worker, "heartbeat"); err != nil {
			c.reply(m, HeartbeatReply{Error: err.Error()})
			return
		}
		c.reply(m, handler(&hb))
	})
}

// serve subscribes h to subj (in queue group queue, if not empty), or
// with h nil makes a subscription read with NextMsg. It makes sure the
// server knows the subscription before returning, so that a request sent
// right after on another connection finds it (when disconnected, it is sent
// on reconnect instead), and drains it when ctx is done.
func (c *Conn) serve(ctx context.Context, subj, queue string, h nats.MsgHandler) (*nats.Subscription, error) {
	var sub *nats.Subscription
	var err error
	if h == nil {
		sub, err = c.nc.QueueSubscribeSync(subj, queue)
	} else {
		sub, err = c.nc.QueueSubscribe(subj, queue, h)
	}
	if err != nil {
		return nil, fmt.Errorf("subscribing to %s: %w", subj, err)
	}
	_ = c.nc.FlushTimeout(time.Second)
	context.AfterFunc(ctx, func() { _ = sub.Drain() })
	return sub, nil
}

func (c *Conn) reply(m *nats.Msg, v any) {
	if err := respond(m, v); err != nil {
		c.log.Warn("cannot reply", "subject", m.Subject, "error", err)
	}
}
