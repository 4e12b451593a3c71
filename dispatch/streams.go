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
	WorkAckWait = 30 * time.Second
)

// WorkStreamConfig is the configuration of the BERTH_WORK stream.
func WorkStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamWork,
		Description: "berth: runnable tasks, one subject per pool",
		Subjects:    []string{SubjectWorkPrefix + ">"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  WorkDuplicateWindow,
		Discard:     jetstream.DiscardOld,
	}
}

// EnsureStreams creates the streams berth uses, or updates them to the
// configuration this version expects.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	if _, err := js.CreateOrUpdateStream(ctx, WorkStreamConfig()); err != nil {
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
// messages and the pools' consumers go with it: workers create their
// consumers again (see WorkSource), and the scheduler must publish again
// the work it had published.
func RecreateWorkStream(ctx context.Context, js jetstream.JetStream) error {
	if err := js.DeleteStream(ctx, StreamWork); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("deleting the broken stream %s: %w", StreamWork, err)
	}
	return EnsureStreams(ctx, js)
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
