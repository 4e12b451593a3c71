package scheduler

import (
	"sync"

	"github.com/berth-run/berth/job"
)

// fanout hands the scheduler's events to its subscribers (server-sent
// events, waits). It has a lock of its own, so that subscribing and
// unsubscribing do not wait for the scheduler's decisions and commits.
// The scheduler emits with its own lock held, which keeps events in the
// order of commits; fanout's lock is taken inside the scheduler's, never
// the other way round.
type fanout struct {
	mu   sync.Mutex
	subs map[*subscriber]struct{}
	seq  uint64
}

// subscriber is one Subscribe call.
type subscriber struct {
	ch chan job.Event
}

// subscribe adds a subscriber with a buffer of buf events.
func (f *fanout) subscribe(buf int) (<-chan job.Event, func()) {
	sub := &subscriber{ch: make(chan job.Event, max(buf, 1))}
	f.mu.Lock()
	if f.subs == nil {
		f.subs = make(map[*subscriber]struct{})
	}
	f.subs[sub] = struct{}{}
	f.mu.Unlock()
	return sub.ch, func() {
		f.mu.Lock()
		f.dropLocked(sub)
		f.mu.Unlock()
	}
}

// listening reports whether anyone subscribes: events need not be built
// otherwise.
func (f *fanout) listening() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs) > 0
}

// emit numbers events and sends them to every subscriber. A subscriber
// whose buffer is full is dropped: its channel is closed.
func (f *fanout) emit(events ...*job.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, e := range events {
		f.seq++
		e.Seq = f.seq
		for sub := range f.subs {
			select {
			case sub.ch <- *e:
			default:
				f.dropLocked(sub)
			}
		}
	}
}

// close drops every subscriber.
func (f *fanout) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for sub := range f.subs {
		f.dropLocked(sub)
	}
}

func (f *fanout) dropLocked(sub *subscriber) {
	if _, ok := f.subs[sub]; ok {
		delete(f.subs, sub)
		close(sub.ch)
	}
}
