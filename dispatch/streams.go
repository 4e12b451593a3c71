package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// Work stream and consumer settings.
const (
	// WorkDuplicateWindow is how long JetStream remembers a Work message ID
	// to drop a re-sent publish. Kept short: the stream only ever holds
	// what is about to run.
	WorkDuplicateWindow = time.Minute
	// WorkAckWait is how long a pulled Work message may go without an ack or
	// an in-progress signal before JetStream redelivers it. Workers signal
	// progress every WorkAckWait/3 while they hold a task.
	// It bounds how long work handed to a worker that cannot take it (cut
	// off in the middle of a pull) waits before it goes to another.
	WorkAckWait = 15 * time.Second
)

// StreamOption changes the configuration of berth's streams.
type StreamOption func(*jetstream.StreamConfig)

// Replicas keeps n copies of each stream on a NATS cluster (n ≤ its size;
// JetStream allows at most 5). 0 or 1: one copy.
func Replicas(n int) StreamOption {
	return func(c *jetstream.StreamConfig) { c.Replicas = max(n, 1) }
}

// WorkStreamConfig is the configuration of the BERTH_WORK stream.
func WorkStreamConfig(opts ...StreamOption) jetstream.StreamConfig {
	c := jetstream.StreamConfig{
		Name:        StreamWork,
		Description: "berth: runnable tasks, one subject per pool",
		Subjects:    []string{SubjectWorkPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  WorkDuplicateWindow,
		Discard:     jetstream.DiscardOld,
		Replicas:    1,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// EnsureStreams creates the streams berth uses, or updates them to the
// configuration this version expects (changed by opts). The pools'
// consumers take the stream's replicas.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, opts ...StreamOption) error {
	if _, err := js.CreateOrUpdateStream(ctx, WorkStreamConfig(opts...)); err != nil {
		return fmt.Errorf("creating stream %s: %w", StreamWork, err)
	}
	return nil
}

// A write error (a full disk) breaks a stream of JetStream's file store for
// good: it stores nothing more, and answers no publish, until the stream is
// loaded again (a restart), even once the disk has room. Its API still
// answers, so only the server's own health tells. The work stream holds
// nothing the scheduler cannot publish again from its store, so the cure
// is to make it anew.

// WorkStreamErr returns the write error that broke the work stream of this
// embedded server, nil if it is whole (or the server is not running).
func (s *Server) WorkStreamErr() error {
	s.mu.Lock()
	ns := s.ns
	s.mu.Unlock()
	if ns == nil {
		return nil
	}
	h := ns.Healthz(&natsserver.HealthzOptions{Details: true})
	for _, e := range h.Errors {
		if e.Stream == StreamWork {
			return errors.New(e.Error)
		}
	}
	return nil
}

// RecreateWorkStream deletes the work stream and creates it anew. Its
// messages and the pools' consumers go with it: the server creates the
// consumers again (EnsureWorkConsumer), which workers wait for (see
// WorkSource), and the scheduler must publish again the work it had
// published.
func RecreateWorkStream(ctx context.Context, js jetstream.JetStream, opts ...StreamOption) error {
	if err := js.DeleteStream(ctx, StreamWork); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("deleting the broken stream %s: %w", StreamWork, err)
	}
	return EnsureStreams(ctx, js, opts...)
}

// WorkConsumerName is the durable pull consumer that all workers of a pool
// share: "pool-<pool>", with '.' and '/' (which consumer names may not hold)
// written as "~2E" and "~2F"; pool names never contain '~'.
func WorkConsumerName(pool string) string {
	return "pool-" + strings.NewReplacer(".", "~2E", "/", "~2F").Replace(pool)
}

// WorkConsumerConfig is the configuration of a pool's consumer.
func WorkConsumerConfig(pool string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       WorkConsumerName(pool),
		Description:   "berth: workers of pool " + pool,
		FilterSubject: SubjectWork(pool),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       WorkAckWait,
		MaxDeliver:    -1,
		// Workers bound what they hold by their slots; the consumer need not.
		MaxAckPending: -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}
