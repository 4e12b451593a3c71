package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// ControlTimeout bounds the wait for a worker's answer to a Control when the
// caller's context allows longer.
const ControlTimeout = 10 * time.Second

// SubjectControl returns the control subject of a worker.
func SubjectControl(worker string) string { return fmt.Sprintf(SubjectControlFmt, worker) }

// Control asks worker to act on a task it holds and returns its answer. It
// fails with an error saying the worker did not answer if no worker of that
// ID listens or it does not answer within ControlTimeout.
func (c *Conn) Control(ctx context.Context, worker string, ctl *Control) (*ControlReply, error) {
	data, err := json.Marshal(ctl)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeout(ctx, ControlTimeout)
	defer cancel()
	msg, err := c.nc.RequestWithContext(rctx, SubjectControl(worker), data)
	if err != nil {
		return nil, noAnswer(fmt.Sprintf("worker %s (%s %s)", worker, ctl.Action, ctl.TaskKey), err)
	}
	var r ControlReply
	if err := json.Unmarshal(msg.Data, &r); err != nil {
		return nil, fmt.Errorf("bad control reply from worker %s: %w", worker, err)
	}
	return &r, nil
}

// ServeControl answers the controls sent to worker with handler until ctx is
// done, one at a time, so a suspend and a resume of a task keep their order.
func (c *Conn) ServeControl(ctx context.Context, worker string, handler func(context.Context, *Control) ControlReply) (*nats.Subscription, error) {
	return c.serve(ctx, SubjectControl(worker), "", func(m *nats.Msg) {
		var ctl Control
		if err := json.Unmarshal(m.Data, &ctl); err != nil {
			c.reply(m, ControlReply{Error: "bad control: " + err.Error()})
			return
		}
		c.reply(m, handler(ctx, &ctl))
	})
}
