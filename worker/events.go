package worker

import (
	"context"
	"sync"
	"time"

	"github.com/berth-run/berth/dispatch"
)

// eventQueue sends a task's events one after another, each until the
// server recorded it, without making whoever queues them wait.
//
// Its sender goroutine starts only when an event must go out while the task
// runs: a short task's started event waits for its end (see push), and its
// ended event is then sent by the task's own goroutine in wait, which spares
// a goroutine and two hand-offs per task.
type eventQueue struct {
	ctx  context.Context
	send func(context.Context, *dispatch.Event) (*dispatch.EventReply, error)

	mu     sync.Mutex
	q      []*dispatch.Event
	closed bool
	// sending says that run has been started, by start or by wait.
	sending bool
	hold    *time.Timer   // starts the sender for a lone started event
	wake    chan struct{} // signals a push or close
	done    chan struct{} // closed when all is sent, or sending gave up
	err     error
	// next is the work the server handed over in reply to the ended event.
	next *dispatch.Work
}

// newEventQueue returns a queue sending with send; with send nil, events
// only queue up (for tests).
func newEventQueue(ctx context.Context, send func(context.Context, *dispatch.Event) (*dispatch.EventReply, error)) *eventQueue {
	return &eventQueue{ctx: ctx, send: send, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// push queues ev; after close it drops it (the task has ended, and its
// ended event says the last word).
func (q *eventQueue) push(ev *dispatch.Event) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return
	}
	// A task that ended before its started event went out: the ended
	// event says both, one round trip instead of two.
	if ev.Kind == dispatch.EventEnded {
		for i, old := range q.q {
			if old.Kind == dispatch.EventStarted {
				ev.PID, ev.ContainerID, ev.Session = old.PID, old.ContainerID, old.Session
				ev.Hostname, ev.Ports = old.Hostname, old.Ports
				q.q = append(q.q[:i], q.q[i+1:]...)
				break
			}
		}
	}
	q.q = append(q.q, ev)
	switch {
	case q.sending:
		q.signal()
	case ev.Kind == dispatch.EventStarted && len(q.q) == 1:
		if q.hold == nil && q.send != nil {
			q.hold = time.AfterFunc(time.Until(ev.Time.Add(startedDelay)), q.start)
		}
	case ev.Kind != dispatch.EventEnded:
		q.startLocked()
	}
}

// start starts the sender goroutine, unless it runs already.
func (q *eventQueue) start() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.startLocked()
}

func (q *eventQueue) startLocked() {
	if q.sending || q.send == nil {
		return
	}
	q.sending = true
	go q.run()
}

// close ends the queue; run returns once what was queued is sent.
func (q *eventQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.signal()
}

func (q *eventQueue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// wait sends what is queued and returns once all is sent, or why it gave
// up. If the sender goroutine never started, the caller sends.
func (q *eventQueue) wait() error {
	q.mu.Lock()
	if q.hold != nil {
		q.hold.Stop()
	}
	if q.send == nil {
		q.mu.Unlock()
		return nil
	}
	inline := !q.sending
	q.sending = true
	q.mu.Unlock()
	if inline {
		q.run()
	}
	<-q.done
	return q.err
}

// run sends the queued events in order until the queue is closed and
// empty, or q.ctx is done. It starts once no event need wait any more
// (push holds back a lone started event), so it sends each as it comes.
func (q *eventQueue) run() {
	defer close(q.done)
	for {
		q.mu.Lock()
		var ev *dispatch.Event
		if len(q.q) > 0 {
			ev, q.q = q.q[0], q.q[1:]
		}
		closed := q.closed
		q.mu.Unlock()
		switch {
		case ev != nil:
			r, err := q.send(q.ctx, ev)
			if err != nil {
				q.err = err
				return
			}
			if ev.Kind == dispatch.EventEnded {
				q.next = r.Next
			}
			continue
		case closed:
			return
		}
		select {
		case <-q.wake:
		case <-q.ctx.Done():
			q.err = q.ctx.Err()
			return
		}
	}
}

// startedDelay is how long a started event waits for its task's end to fold
// into; past it, the server learns the PID on its own.
const startedDelay = 50 * time.Millisecond
