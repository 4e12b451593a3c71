package dispatch

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
)

// The streams of a task's output.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
	StreamResult = "result"
	// StreamTimes is the output's timeline (internal/timeline).
	StreamTimes = "times"
)

// OutputChunkMax bounds the data of one Output message; NATS's default
// maximum payload is 1 MiB and the data is base64 in JSON.
const OutputChunkMax = 256 << 10

// Output is a piece of one stream of one attempt's output, or with Reset,
// the start of an attempt: the server empties the task's files.
type Output struct {
	TaskKey
	Worker string `json:"worker"`
	Reset  bool   `json:"reset,omitempty"`
	Stream string `json:"stream,omitempty"`
	// Offset is where Data starts in the stream.
	Offset int64  `json:"offset"`
	Data   []byte `json:"data,omitempty"`
}

// OutputReply says how much of the stream the server holds now, which is
// where the worker continues: it makes resending after a lost reply
// harmless, and a gap impossible.
type OutputReply struct {
	OK    bool   `json:"ok"`
	Size  int64  `json:"size"`
	Error string `json:"error,omitempty"`
}

// SendOutput sends o and retries until the server answered or ctx is done.
// A refusal (a stale attempt) is returned as an error without retrying.
func (c *Conn) SendOutput(ctx context.Context, o *Output) (*OutputReply, error) {
	if c.worker == "" {
		return nil, errNoIdentity
	}
	o.Worker = c.worker
	var r OutputReply
	err := retry(ctx, func() error {
		r = OutputReply{}
		err := c.request(ctx, workerSubject(c.worker, kindOutput), o, &r)
		if err != nil {
			c.log.Warn("output not recorded, retrying", "task", o.TaskKey.String(), "error", err)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sending output of %s: %w", o.TaskKey, noAnswer("the server", err))
	}
	if !r.OK {
		return &r, fmt.Errorf("server refused output of %s: %s", o.TaskKey, r.Error)
	}
	return &r, nil
}

// ServeOutput answers Output messages with handler until ctx is done, one
// at a time. Output.Worker is the sender's identity, taken from the subject
// (output of remote workers, which do not share the server's disk).
func (c *Conn) ServeOutput(ctx context.Context, handler func(*Output) OutputReply) (*nats.Subscription, error) {
	return c.serve(ctx, workerSubjects(kindOutput), QueueServer, func(m *nats.Msg) {
		var o Output
		if err := json.Unmarshal(m.Data, &o); err != nil {
			c.reply(m, OutputReply{Error: "bad output message: " + err.Error()})
			return
		}
		if err := c.identify(m, &o.Worker, "output"); err != nil {
			c.reply(m, OutputReply{Error: err.Error()})
			return
		}
		c.reply(m, handler(&o))
	})
}
