package worker

import (
	"context"
	"time"

	"github.com/berth-run/berth/dispatch"
)

// A worker holds its tasks under a lease that each answered heartbeat
// renews, counted from when the heartbeat was sent (so the worker's lease
// always ends before the server's view of it). When the lease lapses the
// worker fences itself: it stops every task it holds (SIGTERM, SIGKILL
// after dispatch.FenceGrace) and reports nothing of them, and it starts
// nothing until a heartbeat is answered again. The server takes the tasks
// of a worker unheard of for lease + grace + margin as lost, so an attempt
// is dead before another starts. Config.Fence carries the lease to a
// watchdog outside the process, which kills the tasks if the worker itself
// hangs.

// Fence is a watchdog outside the worker's process that kills the worker's
// tasks if the lease lapses without the worker doing it (a hung worker).
type Fence interface {
	// Renew says the lease holds until until (on this process's clock).
	Renew(until time.Time) error
	// Until returns the lease an earlier run of the worker left, zero if
	// none: a restarted worker keeps following what it left running only
	// within that lease, unless the server renews it.
	Until() time.Time
}

// renew extends the lease to until and stops the attempts the server no
// longer grants. A lease that had lapsed fences every held task first:
// they may have been given to another worker meanwhile.
func (w *Worker) renew(until time.Time, drop []dispatch.TaskKey) {
	w.checkLease()
	for _, k := range drop {
		w.mu.Lock()
		t := w.tasks[k]
		delete(w.lost, k)
		w.mu.Unlock()
		if t != nil {
			w.fence(t, "the server no longer grants it")
		}
	}
	w.mu.Lock()
	w.leaseUntil = until
	w.armLeaseLocked()
	close(w.renewed)
	w.renewed = make(chan struct{})
	w.mu.Unlock()
	if w.cfg.Fence != nil {
		if err := w.cfg.Fence.Renew(until); err != nil {
			w.log.Warn("cannot renew the watchdog's lease", "error", err)
		}
	}
}

// armLeaseLocked sets the timer that fences at the lease's end.
func (w *Worker) armLeaseLocked() {
	if w.leaseTimer == nil {
		w.leaseTimer = time.AfterFunc(time.Until(w.leaseUntil), w.checkLease)
	} else {
		w.leaseTimer.Reset(time.Until(w.leaseUntil))
	}
}

// checkLease fences every held task if the lease has lapsed.
func (w *Worker) checkLease() {
	w.mu.Lock()
	if w.leaseValidLocked() {
		w.mu.Unlock()
		return
	}
	held := make([]*task, 0, len(w.tasks))
	for _, t := range w.tasks {
		held = append(held, t)
	}
	clear(w.lost)
	w.mu.Unlock()
	for _, t := range held {
		w.fence(t, "the worker's lease lapsed")
	}
}

func (w *Worker) leaseValidLocked() bool { return time.Now().Before(w.leaseUntil) }

// leaseValid reports whether the worker may start or report tasks.
func (w *Worker) leaseValid() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.leaseValidLocked()
}

// waitLease returns once the lease is valid, or ctx is done.
func (w *Worker) waitLease(ctx context.Context) error {
	for {
		w.mu.Lock()
		ok, renewed := w.leaseValidLocked(), w.renewed
		w.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-renewed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// fence stops t without a word to the server: its attempt is no longer the
// worker's to report. What the task still had to send is dropped.
func (w *Worker) fence(t *task, why string) {
	t.mu.Lock()
	if t.fenced {
		t.mu.Unlock()
		return
	}
	t.fenced = true
	started, ended := t.started, t.ended
	t.setReason(reasonFenced)
	t.mu.Unlock()
	t.cancel() // gives up sending its events
	w.log.Warn("fencing a task", "task", t.key.String(), "why", why)
	if started && !ended {
		// Each on its own: a container's stop waits for its grace, and
		// every fenced task must be dead by the same deadline.
		go func() {
			if err := w.cfg.Executor.Stop(context.WithoutCancel(w.life), t.id, dispatch.FenceGrace); err != nil {
				t.log.Warn("cannot stop a fenced task", "error", err)
			}
		}()
	}
}

// reasonFenced marks a task the worker stopped because it lost its lease;
// it is never reported.
const reasonFenced = "FENCED"
