package dispatch

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/berth-run/berth/job"
)

// Publisher is the scheduler's side of the work stream.
type Publisher struct {
	js jetstream.JetStream
	// Broken, when set, says why the work stream is broken, nil when it
	// is whole (Server.WorkStreamErr for the embedded server).
	// RepairWork uses it.
	Broken func() error
	// Stream are the options the work stream is made anew with.
	Stream []StreamOption
	// Repaired, when set, is called after RepairWork made the stream
	// anew: the pools' consumers went with it, and workers may not create
	// them (the server does, EnsureWorkConsumer).
	Repaired func(context.Context)
}

// NewPublisher returns a publisher on c.
func NewPublisher(c *Conn) *Publisher { return &Publisher{js: c.js} }

// PublishWork puts w's key on its pool's work subject and returns once JetStream
// has stored it.
func (p *Publisher) PublishWork(ctx context.Context, w *Work) error {
	pool := cmp.Or(w.Pool, job.PoolDefault)
	if err := checkPool(pool); err != nil {
		return fmt.Errorf("publishing work %s: %w", w.TaskKey, err)
	}
	// The stream carries the key alone: the template and environment go,
	// in the claim's reply, to the worker granted the attempt only.
	data, err := json.Marshal(&Work{TaskKey: w.TaskKey, Pool: pool})
	if err != nil {
		return fmt.Errorf("publishing work %s: %w", w.TaskKey, err)
	}
	// The ID only de-duplicates JetStream's own retries of this publish: it
	// is unique per call, since the scheduler re-publishes the same attempt
	// after PurgeWork and that copy must not be dropped as a duplicate.
	id := w.TaskKey.String() + "-" + nuid.Next()
	_, err = p.js.Publish(ctx, SubjectWork(pool), data,
		jetstream.WithMsgID(id), jetstream.WithExpectStream(StreamWork))
	if err != nil {
		return fmt.Errorf("publishing work %s to pool %s: %w", w.TaskKey, pool, err)
	}
	return nil
}

// PurgeWork empties the work stream. The scheduler does it when it starts,
// then publishes again what should run: its store is the source of truth.
func (p *Publisher) PurgeWork(ctx context.Context) error {
	s, err := p.js.Stream(ctx, StreamWork)
	if err != nil {
		return fmt.Errorf("purging stream %s: %w", StreamWork, err)
	}
	if err := s.Purge(ctx); err != nil {
		return fmt.Errorf("purging stream %s: %w", StreamWork, err)
	}
	return nil
}

// WorkStreamErr says why the work stream cannot take work: Broken says so,
// or the stream is missing (deleted, or a repair that could delete it but
// not create it again). Nil when it is whole, or when JetStream does not
// answer (a connection problem, not the stream's).
func (p *Publisher) WorkStreamErr(ctx context.Context) error {
	if p.Broken != nil {
		if err := p.Broken(); err != nil {
			return err
		}
	}
	if _, err := p.js.Stream(ctx, StreamWork); errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s is missing", StreamWork)
	}
	return nil
}

// RepairWork makes the work stream anew if WorkStreamErr says it is broken
// or missing, and reports whether it did: the work published before is
// then gone and must be published again.
func (p *Publisher) RepairWork(ctx context.Context) (bool, error) {
	werr := p.WorkStreamErr(ctx)
	if werr == nil {
		return false, nil
	}
	if err := RecreateWorkStream(ctx, p.js, p.Stream...); err != nil {
		return false, fmt.Errorf("repairing the work stream (%v): %w", werr, err)
	}
	if p.Repaired != nil {
		p.Repaired(ctx)
	}
	return true, nil
}

// checkPool rejects pool names that cannot be one subject token sequence.
func checkPool(pool string) error {
	if pool == "" || strings.ContainsAny(pool, " \t\r\n*>") || strings.HasPrefix(pool, ".") ||
		strings.HasSuffix(pool, ".") || strings.Contains(pool, "..") {
		return fmt.Errorf("invalid pool name %q", pool)
	}
	return nil
}
