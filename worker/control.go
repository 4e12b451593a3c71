package worker

import (
	"cmp"
	"context"
	"fmt"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
)

// control answers a Control for a task the worker holds.
func (w *Worker) control(_ context.Context, c *dispatch.Control) dispatch.ControlReply {
	t := w.task(c.TaskKey)
	if t == nil {
		return dispatch.ControlReply{Error: "no such task"}
	}
	t.log.Info("control", "action", c.Action, "reason", c.Reason)
	var err error
	switch c.Action {
	case job.Suspend:
		err = w.pause(t, true)
	case job.Resume:
		err = w.pause(t, false)
	case job.Terminate:
		grace := cmp.Or(c.Grace.Std(), w.cfg.StopGrace)
		if c.Kill {
			grace = 0
		}
		err = w.stopSignal(t, c.Reason, c.Signal, grace)
	default:
		err = fmt.Errorf("action %q is not one a worker performs", c.Action)
	}
	if err != nil {
		return dispatch.ControlReply{Error: err.Error()}
	}
	return dispatch.ControlReply{OK: true}
}

// pause suspends or resumes t and queues the event, once the executor says
// it is done.
func (w *Worker) pause(t *task, suspend bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.started || t.ended {
		return fmt.Errorf("task %s is not running", t.key)
	}
	if t.work.OpenJD != nil {
		return errOpenJDPause
	}
	kind := dispatch.EventResumed
	var err error
	if suspend {
		kind = dispatch.EventSuspended
		err = w.cfg.Executor.Suspend(w.life, t.id)
	} else {
		err = w.cfg.Executor.Resume(w.life, t.id)
	}
	if err != nil {
		return err
	}
	t.events.push(w.event(t, kind, nil))
	return nil
}
