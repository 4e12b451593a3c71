package worker

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/berth-run/berth/dispatch"
)

// heartbeats sends a heartbeat now, every dispatch.HeartbeatInterval and
// after each reconnect, until done is closed.
func (w *Worker) heartbeats(done <-chan struct{}) {
	kick := make(chan struct{}, 1)
	remove := w.conn.OnReconnect(func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	defer remove()
	every := w.beatInterval()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		w.beat()
		if e := w.beatInterval(); e != every {
			every = e
			t.Reset(every)
		}
		select {
		case <-t.C:
		case <-kick:
		case <-done:
			return
		}
	}
}

// beatInterval is how often heartbeats go: dispatch.HeartbeatInterval, or
// more often for a short lease, so that a few may be lost before it lapses.
func (w *Worker) beatInterval() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return min(dispatch.HeartbeatInterval, w.leasePer/4)
}

// beat sends a heartbeat and renews the lease with its answer. Unanswered,
// the lease is renewed only if Config.NoServer proves that no server runs,
// so that none can give the worker's tasks to another.
func (w *Worker) beat() {
	sent := time.Now()
	// No longer than till the next one: a slow answer must not hold back
	// the heartbeats that could renew the lease in time.
	ctx, cancel := context.WithTimeout(w.life, w.beatInterval())
	r, err := w.conn.Heartbeat(ctx, w.heartbeat())
	cancel()
	if err == nil {
		w.mu.Lock()
		if r.Lease > 0 {
			w.leasePer = r.Lease.Std()
		}
		per := w.leasePer
		w.mu.Unlock()
		w.renew(sent.Add(per), r.Drop)
		return
	}
	if w.cfg.NoServer != nil {
		checked := time.Now()
		if w.cfg.NoServer() {
			w.mu.Lock()
			per := w.leasePer
			w.mu.Unlock()
			w.renew(checked.Add(per), nil)
			return
		}
	}
	w.log.Warn("heartbeat not answered", "error", err)
	w.checkLease()
}

// heartbeat says what the worker holds now.
func (w *Worker) heartbeat() *dispatch.Heartbeat {
	w.mu.Lock()
	held := slices.Collect(maps.Keys(w.tasks))
	for k := range w.lost {
		held = append(held, k)
	}
	w.mu.Unlock()
	slices.SortFunc(held, func(a, b dispatch.TaskKey) int {
		return cmp.Or(cmp.Compare(a.Job, b.Job), cmp.Compare(a.Index, b.Index), cmp.Compare(a.Attempt, b.Attempt))
	})
	return &dispatch.Heartbeat{
		Worker:  w.cfg.ID,
		Host:    w.cfg.Host,
		Pool:    w.cfg.Pool,
		Slots:   w.cfg.Slots,
		Labels:  w.cfg.Labels,
		Version: w.cfg.Version,
		Running: held,
		Time:    time.Now().UTC(),
	}
}
