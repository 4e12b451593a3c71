package worker

import (
	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
)

// followChanges reports the states a started task enters on its own, as the
// executor tells them (executor.StateNotifier: a container that its restart
// policy restarts is Requeued, then Running again; one paused outside berth
// is Suspended, then Running again when unpaused), as events queued before
// the task's end. The returned channel is closed once the executor has said
// all (the task ended), or at once if the executor says nothing.
func (w *Worker) followChanges(t *task) <-chan struct{} {
	done := make(chan struct{})
	n, ok := w.cfg.Executor.(executor.StateNotifier)
	if !ok {
		close(done)
		return done
	}
	changes, err := n.Changes(w.life, t.id)
	if err != nil {
		t.log.Debug("cannot follow the task's state changes", "error", err)
		close(done)
		return done
	}
	go func() {
		defer close(done)
		last := job.Running
		for st := range changes {
			kind := dispatch.EventRunning
			switch {
			case st.State == job.Requeued:
				kind = dispatch.EventRequeued
			case st.State == job.Suspended:
				kind = dispatch.EventSuspended
			case last == job.Suspended:
				kind = dispatch.EventResumed
			}
			last = st.State
			t.log.Info("task state changed where it runs", "state", st.State, "restarts", st.Restarts)
			t.events.push(w.event(t, kind, func(ev *dispatch.Event) { ev.Restarts = st.Restarts }))
		}
	}()
	return done
}
