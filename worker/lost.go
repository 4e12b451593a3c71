package worker

import (
	"context"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
)

// reportLost reports the tasks left by an earlier run of the worker as
// ended Failed, sub-state LOST: their exit cannot be known.
func (w *Worker) reportLost(ctx context.Context) {
	c, ok := w.cfg.Executor.(executor.Cleaner)
	if !ok {
		return
	}
	handles, err := c.Cleanup(ctx)
	if err != nil {
		w.log.Warn("cleaning up after an earlier run", "error", err)
	}
	for _, h := range handles {
		key, err := dispatch.ParseTaskKey(h.ID)
		if err != nil {
			w.log.Warn("left-over task is not berth's", "id", h.ID, "error", err)
			continue
		}
		w.mu.Lock()
		w.lost[key] = true
		w.mu.Unlock()
		w.wg.Go(func() {
			ev := &dispatch.Event{TaskKey: key, Worker: w.cfg.ID, Kind: dispatch.EventEnded, Time: time.Now().UTC(),
				End: &dispatch.End{State: job.Failed, SubState: job.SubState{Kind: job.ReasonLost},
					Message: "the worker restarted while the task ran"}}
			if _, err := w.conn.SendEvent(w.life, ev); err != nil {
				w.log.Warn("lost task not reported", "task", key.String(), "error", err)
				return
			}
			w.log.Info("reported a task lost at restart", "task", key.String())
			w.mu.Lock()
			delete(w.lost, key)
			w.mu.Unlock()
		})
	}
}
