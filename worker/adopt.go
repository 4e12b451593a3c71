package worker

import (
	"context"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor"
)

// adopt re-attaches to what an earlier run of the worker left running that
// the executor can follow, and reports each end as if this run had started
// it, with its true exit status. What cannot be re-attached is left to
// reportLost.
func (w *Worker) adopt(ctx context.Context) {
	r, ok := w.cfg.Executor.(executor.Recoverer)
	if !ok {
		return
	}
	hs, err := r.Recoverable(ctx)
	if err != nil {
		w.log.Warn("looking for tasks left running", "error", err)
	}
	for _, h := range hs {
		key, err := dispatch.ParseTaskKey(h.ID)
		if err != nil {
			continue // not berth's; Cleanup decides
		}
		if err := r.Recover(ctx, h); err != nil {
			w.log.Warn("cannot re-attach to a task left running", "task", h.ID, "error", err)
			continue
		}
		log := w.log.With("task", key.String())
		t := w.newTask(key, &dispatch.Work{TaskKey: key}, log)
		t.id, t.started = h.ID, true
		w.hold(t)
		log.Info("re-attached to a task left running", "container", h.Ident.ContainerID, "pid", h.Ident.PID)
		if w.remote() {
			// Output goes on from what the server has.
			if t.stream, err = w.startStream(key, w.cfg.TaskDir(key), false); err != nil {
				log.Warn("cannot stream the output of a re-attached task", "error", err)
			}
		}
		w.wg.Go(func() {
			defer t.cancel()
			end := w.await(t)
			// Reported only under a lease the server renewed: the first
			// heartbeat may say it is no longer this worker's.
			if w.waitLease(t.ctx) != nil || t.isFenced() {
				t.events.close()
				w.release(key)
				return
			}
			if t.stream != nil {
				if err := t.stream.finish(); err != nil {
					log.Warn("output not all shipped", "error", err)
				}
			}
			if end != nil {
				t.events.push(w.event(t, dispatch.EventEnded, func(ev *dispatch.Event) { ev.End = end }))
			}
			t.events.close()
			if err := t.events.wait(); err != nil || end == nil {
				log.Warn("end of a re-attached task not recorded", "error", err)
				return
			}
			w.free(t)
			w.release(key)
		})
	}
}
