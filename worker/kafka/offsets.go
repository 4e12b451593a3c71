package kafka

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// topicPartition names one partition.
type topicPartition struct {
	topic     string
	partition int32
}

// offsets tracks, for each partition assigned to the worker, the records
// polled and not yet committed, in offset order. A record is done once it
// needs nothing more (its finished message is acknowledged, or it was
// skipped); the offset to commit is past the last record of the unbroken
// run of done records at the front. Jobs run concurrently and end in any
// order, so a record done early waits for the ones before it.
//
// Partitions come and go with the group's assignments: records of a
// partition not assigned are not tracked (their new owner handles them),
// and a revoked partition's pending records are forgotten; their jobs may
// still end, but commit nothing.
type offsets struct {
	mu    sync.Mutex
	parts map[topicPartition]*partitionOffsets
}

type partitionOffsets struct {
	pending []*entry // in offset order
	revoked bool
}

// entry is one polled record.
type entry struct {
	rec  *kgo.Record
	part *partitionOffsets
	done bool
}

func newOffsets() *offsets {
	return &offsets{parts: map[topicPartition]*partitionOffsets{}}
}

// assign starts tracking the given partitions.
func (o *offsets) assign(assigned map[string][]int32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for t, ps := range assigned {
		for _, p := range ps {
			tp := topicPartition{t, p}
			if o.parts[tp] == nil {
				o.parts[tp] = &partitionOffsets{}
			}
		}
	}
}

// add tracks a polled record; it returns nil if the record's partition is
// not assigned (any more).
func (o *offsets) add(r *kgo.Record) *entry {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.parts[topicPartition{r.Topic, r.Partition}]
	if p == nil {
		return nil
	}
	e := &entry{rec: r, part: p}
	p.pending = append(p.pending, e)
	return e
}

// done marks e done and returns the record to commit through (the
// commit is of its offset plus one), or nil if there is nothing new to
// commit.
func (o *offsets) done(e *entry) *kgo.Record {
	o.mu.Lock()
	defer o.mu.Unlock()
	e.done = true
	if e.part.revoked {
		return nil
	}
	return e.part.advance()
}

// advance drops the done records at the front and returns the last one.
func (p *partitionOffsets) advance() *kgo.Record {
	var last *kgo.Record
	for len(p.pending) > 0 && p.pending[0].done {
		last = p.pending[0].rec
		p.pending[0] = nil
		p.pending = p.pending[1:]
	}
	return last
}

// revoke stops tracking the given partitions (all with nil) and returns
// the records to commit through for them, for a last commit.
func (o *offsets) revoke(revoked map[string][]int32) []*kgo.Record {
	o.mu.Lock()
	defer o.mu.Unlock()
	var commit []*kgo.Record
	drop := func(tp topicPartition, p *partitionOffsets) {
		if r := p.advance(); r != nil {
			commit = append(commit, r)
		}
		p.revoked = true
		delete(o.parts, tp)
	}
	if revoked == nil {
		for tp, p := range o.parts {
			drop(tp, p)
		}
		return commit
	}
	for t, ps := range revoked {
		for _, pn := range ps {
			tp := topicPartition{t, pn}
			if p := o.parts[tp]; p != nil {
				drop(tp, p)
			}
		}
	}
	return commit
}

// pending counts the records polled and not done, for tests and logs.
func (o *offsets) pending() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	n := 0
	for _, p := range o.parts {
		for _, e := range p.pending {
			if !e.done {
				n++
			}
		}
	}
	return n
}
