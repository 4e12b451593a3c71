package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
)

// task is one claimed attempt, from its claim until its end is recorded.
type task struct {
	key    dispatch.TaskKey
	id     string // the executor's task ID
	work   *dispatch.Work
	log    *slog.Logger
	events *eventQueue

	// mu orders start, controls and the end: a control acts only between
	// the start and the end, and its event is queued before the ended one.
	// stream ships the output of a remote worker's task.
	stream *streamer

	// ctx bounds the task's reporting; cancel ends it (fencing).
	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	started bool
	ended   bool
	fenced  bool       // stopped for a lapsed lease: never reported
	reason  job.Reason // why the worker stopped it, if it did
	// cancelRun cancels an OpenJD task's action (its session's
	// cancelation method), in place of the executor's Stop.
	cancelRun context.CancelFunc
}

// slotState is what one fetch loop carries from task to task: its number
// and the OpenJD session it has open, if any.
type slotState struct {
	n    int
	sess *stepSession
	// idleUntil is when the session, with no task, is closed.
	idleUntil time.Time
}

// park keeps the slot's session open for idle, for a task of its step that
// may yet come through the stream, or closes it now (idle 0, or a session
// that cannot go on).
func (sl *slotState) park(idle time.Duration) {
	if sl.sess == nil {
		return
	}
	if idle <= 0 || !sl.sess.usable() {
		sl.closeSession()
		return
	}
	sl.idleUntil = time.Now().Add(idle)
}

// closeSession exits the slot's session, if one is open.
func (sl *slotState) closeSession() {
	if sl.sess != nil {
		sl.sess.close()
		sl.sess = nil
	}
}

// newTask returns the task of an attempt, with its event queue.
func (w *Worker) newTask(key dispatch.TaskKey, work *dispatch.Work, log *slog.Logger) *task {
	ctx, cancel := context.WithCancel(w.life)
	t := &task{key: key, id: key.String(), work: work, log: log, ctx: ctx, cancel: cancel}
	t.events = newEventQueue(ctx, w.conn.SendEvent)
	return t
}

// isFenced reports whether the task was fenced.
func (t *task) isFenced() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.fenced
}

// setReason records why the task is stopped; the first reason wins. The
// caller holds t.mu.
func (t *task) setReason(r job.Reason) {
	if t.reason == "" {
		t.reason = r
	}
}

// runTask takes a pulled Work message through claim, run and end. ctx is
// Run's: once it is canceled a task not yet claimed is handed back.
func (w *Worker) runTask(ctx context.Context, d *dispatch.Delivery, sl *slotState) {
	// A session serves the tasks of its step handed over in a row; at the
	// chain's end it ends, or waits SessionIdle for more.
	defer sl.park(w.cfg.SessionIdle)
	key := d.Work.TaskKey
	log := w.log.With("task", key.String())
	stopProgress := w.keepInProgress(d, log)
	defer stopProgress()

	if !w.leaseValid() {
		// Fenced: start nothing until the server answers again.
		log.Info("work handed back: the worker's lease has lapsed")
		if err := d.NakWithDelay(elsewhereDelay); err != nil {
			log.Warn("cannot hand back work", "error", err)
		}
		return
	}
	r, err := w.conn.Claim(ctx, &dispatch.Claim{TaskKey: key, Worker: w.cfg.ID, Host: w.cfg.Host, Labels: w.cfg.Labels})
	if err != nil {
		log.Info("work handed back unclaimed", "error", err)
		if err := d.Nak(); err != nil {
			log.Warn("cannot hand back work", "error", err)
		}
		return
	}
	if !r.OK && r.Elsewhere {
		log.Debug("work is for another worker, handing it back", "reason", r.Reason)
		if err := d.NakWithDelay(elsewhereDelay); err != nil {
			log.Warn("cannot hand back work", "error", err)
		}
		return
	}
	if !r.OK {
		log.Info("claim refused, dropping the work", "reason", r.Reason)
		w.ack(d, log)
		return
	}

	recorded, next := w.runClaimed(r.Work, log, sl)
	if !recorded {
		return // no ack: the work is redelivered, the server decides
	}
	stopProgress()
	// The end is recorded; the ack need not hold the slot.
	w.wg.Go(func() { w.ack(d, log) })
	// Work handed over in the reply to the ended event is already claimed
	// for this slot.
	for next != nil {
		log := w.log.With("task", next.TaskKey.String())
		if w.isStopping() || !w.leaseValid() {
			ev := &dispatch.Event{TaskKey: next.TaskKey, Worker: w.cfg.ID, Kind: dispatch.EventReleased, Time: time.Now().UTC()}
			if _, err := w.conn.SendEvent(w.life, ev); err != nil {
				log.Warn("cannot give back handed-over work", "error", err)
			}
			return
		}
		if recorded, next = w.runClaimed(next, log, sl); !recorded {
			return
		}
	}
}

// runClaimed runs a claimed attempt and reports it until its end is
// recorded. It returns whether it was, and the work the server handed over
// in reply.
func (w *Worker) runClaimed(work *dispatch.Work, log *slog.Logger, sl *slotState) (bool, *dispatch.Work) {
	key := work.TaskKey
	t := w.newTask(key, work, log)
	defer t.cancel()
	w.hold(t)

	var end *dispatch.End
	if work.OpenJD != nil {
		end = w.executeOpenJD(t, &sl.sess, sl.n)
	} else {
		sl.closeSession()
		end = w.execute(t)
	}
	if t.isFenced() {
		// Its attempt may be another's now: nothing of it is reported, and
		// its work, not acked, is redelivered and refused.
		t.events.close()
		w.release(key)
		log.Info("fenced task ended unreported")
		return false, nil
	}
	if t.stream != nil {
		// The server gets all the output before the end.
		if err := t.stream.finish(); err != nil {
			log.Warn("output not all shipped", "error", err)
		}
	}
	if end != nil {
		t.events.push(w.event(t, dispatch.EventEnded, func(ev *dispatch.Event) {
			ev.End = end
			ev.Next = !w.isStopping()
			ev.Stay = work.OpenJD != nil
		}))
	}
	t.events.close()
	if err := t.events.wait(); err != nil || end == nil {
		// The worker gives up (shutdown timeout): the server decides what
		// became of the attempt.
		log.Warn("task end not recorded", "error", err)
		return false, nil
	}
	if t.started {
		w.free(t)
	}
	w.release(key)
	if w.remote() {
		if err := os.RemoveAll(w.cfg.TaskDir(key)); err != nil {
			log.Warn("cannot remove the task directory", "error", err)
		}
	}
	log.Debug("task ended", "state", end.State, "substate", end.SubState.String())
	return true, t.events.next
}

func (w *Worker) isStopping() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopping
}

func (w *Worker) ack(d *dispatch.Delivery, log *slog.Logger) {
	if err := d.Ack(w.life); err != nil {
		log.Warn("work not acked; it will be redelivered and refused", "error", err)
	}
}

// keepInProgress tells JetStream the work is in progress every third of its
// ack wait until the returned func is called.
func (w *Worker) keepInProgress(d *dispatch.Delivery, log *slog.Logger) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(dispatch.WorkAckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := d.InProgress(); err != nil {
					log.Warn("cannot signal work in progress", "error", err)
				}
			case <-done:
				return
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
}

// execute starts the task, waits for its end and returns it; nil if the
// worker gave up waiting (shutdown timeout).
func (w *Worker) execute(t *task) *dispatch.End {
	spec, err := w.spec(t.work)
	if err != nil {
		return startFailed(err)
	}
	if w.remote() {
		if t.stream, err = w.startStream(t.key, w.cfg.TaskDir(t.key), true); err != nil {
			return startFailed(err)
		}
	}
	t.mu.Lock()
	if t.reason != "" {
		t.ended = true
		t.mu.Unlock()
		return &dispatch.End{State: job.Failed, SubState: job.SubState{Kind: t.reason},
			Message: "stopped before it started"}
	}
	h, err := w.cfg.Executor.Start(w.life, spec)
	if err != nil {
		t.ended = true
		t.mu.Unlock()
		return startFailed(err)
	}
	t.started = true
	t.events.push(w.event(t, dispatch.EventStarted, func(ev *dispatch.Event) {
		ev.PID, ev.ContainerID = h.Ident.PID, h.Ident.ContainerID
		ev.Hostname, ev.Ports = h.Ident.Hostname, h.Ident.Ports
	}))
	t.mu.Unlock()
	t.log.Debug("task started", "pid", h.Ident.PID)
	return w.await(t)
}

// await waits for a started task's end, enforcing its time limit, and
// returns it; nil if the worker gave up waiting (shutdown timeout).
func (w *Worker) await(t *task) *dispatch.End {
	if limit := t.work.Template.TimeLimit.Std(); limit > 0 {
		timer := time.AfterFunc(limit, func() {
			t.log.Info("time limit reached, stopping the task", "limit", limit)
			if err := w.stop(t, job.ReasonTimeLimit, cmp.Or(t.work.Template.StopGrace.Std(), w.cfg.StopGrace)); err != nil {
				t.log.Warn("cannot stop the task", "error", err)
			}
		})
		defer timer.Stop()
	}

	changed := w.followChanges(t)
	var exit *executor.Exit
	exits, err := w.cfg.Executor.Wait(w.life, t.id)
	if err == nil {
		exit = <-exits
	} else {
		exit = &executor.Exit{ExitCode: -1, Err: err, Finished: time.Now()}
	}
	<-changed // their events go before the end's
	t.mu.Lock()
	t.ended = true
	reason := t.reason
	t.mu.Unlock()
	if exit == nil { // Wait gave up: the worker's life ended
		_ = w.cfg.Executor.Destroy(context.Background(), t.id, true)
		return nil
	}
	return endOf(exit, reason)
}

// free frees what an ended task held (a container to remove, a process's
// zombie to reap) once the server has recorded its end, not before: a
// worker that dies in between leaves the task to the next one, which
// reports its end again (a process's exit then noted by the reaper, see
// executor/process). It need not delay the next task.
func (w *Worker) free(t *task) {
	w.wg.Go(func() {
		if err := w.cfg.Executor.Destroy(w.life, t.id, false); err != nil {
			t.log.Warn("cannot free the ended task", "error", err)
		}
	})
}

// stop stops t for reason, with grace between SIGTERM and SIGKILL. A task
// not started yet will not start; an ended one is left alone.
func (w *Worker) stop(t *task, reason job.Reason, grace time.Duration) error {
	return w.stopSignal(t, reason, "", grace)
}

// stopSignal is stop that sends sig first ("": SIGTERM).
func (w *Worker) stopSignal(t *task, reason job.Reason, sig string, grace time.Duration) error {
	s, canSignal := w.cfg.Executor.(executor.Signaler)
	if sig != "" && sig != "SIGTERM" && !canSignal {
		return fmt.Errorf("stop with %s: %w", sig, executor.ErrNotSupported)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if reason != "" {
		t.setReason(reason)
	}
	if !t.started || t.ended {
		return nil
	}
	if t.cancelRun != nil {
		t.cancelRun()
		return nil
	}
	var err error
	if sig != "" && canSignal {
		err = s.StopSignal(w.life, t.id, sig, grace)
	} else {
		err = w.cfg.Executor.Stop(w.life, t.id, grace)
	}
	if errors.Is(err, executor.ErrNotRunning) {
		return nil // it ended meanwhile
	}
	return err
}

// event returns a new event of t of kind, filled in by fill.
func (w *Worker) event(t *task, kind dispatch.EventKind, fill func(*dispatch.Event)) *dispatch.Event {
	ev := &dispatch.Event{TaskKey: t.key, Worker: w.cfg.ID, Kind: kind, Time: time.Now().UTC()}
	if fill != nil {
		fill(ev)
	}
	return ev
}

// elsewhereDelay is how long work meant for other workers (by the job's
// constraints) waits before it is offered again.
const elsewhereDelay = 500 * time.Millisecond
