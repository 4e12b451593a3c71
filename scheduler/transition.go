package scheduler

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/berth-run/berth/job"
)

// Every change of a task's state or sub-state goes through moveLocked,
// which checks it against the state machine, job.Transitions. The callers
// decide whether to act (a hold applies to a queued task, an end to a live
// attempt); whether the change is a valid one is the table's to say. A change
// the table refuses is a bug: it is logged as an error, counted, and not
// applied.

// errTransition is wrapped by the error of a change the state machine
// refuses.
var errTransition = errors.New("invalid state transition")

// moveLocked moves a task to state to with sub-state sub for cause c,
// keeping the job's counts. If the state machine does not allow the change,
// or c acts on an attempt and the task has none on a worker (or the other
// way round, which tells a Requeued task waiting in the queue from one its
// executor restarts), it changes nothing and returns an error.
func (s *Scheduler) moveLocked(js *jobState, t *task, to job.State, sub job.SubState, c job.Cause) error {
	err := job.CheckTransition(t.State, to, c)
	switch {
	case err != nil:
	case t.live() && !c.OnAttempt():
		err = fmt.Errorf("%s applies to a task waiting in the queue, and this one has an attempt on a worker", c)
	case !t.live() && c.OnAttempt():
		err = fmt.Errorf("%s applies to an attempt on a worker, and this task has none", c)
	}
	if err != nil {
		err = fmt.Errorf("%w of task %s (%s %s): %w", errTransition, taskRef(js, t.Index), t.State, t.SubState, err)
		_, file, line, _ := runtime.Caller(1)
		s.log.Error("refused a state change the state machine does not allow; this is a bug",
			"task", taskRef(js, t.Index), "from", t.State, "substate", t.SubState, "to", to, "cause", c,
			"caller", fmt.Sprintf("%s:%d", file, line), "err", err)
		s.invalid.Add(1)
		return err
	}
	js.setState(t, to, sub)
	return nil
}
