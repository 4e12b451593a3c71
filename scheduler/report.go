package scheduler

import (
	"cmp"
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/store"
)

// HandleClaim grants a worker the right to start an attempt, once: only the
// attempt last dispatched, and only while the task still waits for it.
func (s *Scheduler) HandleClaim(ctx context.Context, c *dispatch.Claim) dispatch.ClaimReply {
	if err := s.awaitReady(ctx); err != nil {
		return dispatch.ClaimReply{Reason: err.Error()}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.syncedLocked(ctx); err != nil {
		return dispatch.ClaimReply{Reason: err.Error()}
	}
	js, t := s.lookupLocked(c.Job, c.Index)
	switch {
	case t == nil:
		return dispatch.ClaimReply{Reason: fmt.Sprintf("task %d.%d has ended or was removed", c.Job, c.Index)}
	case t.dispatched != c.Attempt:
		return dispatch.ClaimReply{Reason: fmt.Sprintf("attempt %d of task %d.%d is not on offer", c.Attempt, c.Job, c.Index)}
	case s.workerPoolLocked(c.Worker) == "":
		// Not heard from since this server started: its pool is not known
		// yet. The work goes back for a moment, not away.
		return dispatch.ClaimReply{Reason: fmt.Sprintf("worker %s has not sent a heartbeat yet", c.Worker), Elsewhere: true}
	case s.workerPoolLocked(c.Worker) != js.pool.name:
		s.log.Warn("refused a claim from a worker of another pool", "task", c.TaskKey.String(), "worker", c.Worker, "pool", js.pool.name)
		return dispatch.ClaimReply{Reason: fmt.Sprintf("worker %s is not of pool %s", c.Worker, js.pool.name)}
	case !js.spec.Matches(c.Labels):
		return dispatch.ClaimReply{Reason: fmt.Sprintf("worker %s lacks the constraints of job %d", c.Worker, c.Job), Elsewhere: true}
	}
	now := s.cfg.Now().UTC()
	w := s.work(js, t)
	if err := s.grantLocked(js, t, c.Worker, c.Host, now); err != nil {
		return dispatch.ClaimReply{Reason: err.Error()}
	}
	if err := s.commitLocked(ctx, []change{{js: js, t: t}}); err != nil {
		return dispatch.ClaimReply{Reason: "recording the start: " + err.Error()}
	}
	return dispatch.ClaimReply{OK: true, Work: w}
}

// grantLocked gives the dispatched attempt of a task to a worker: it is
// Running from now on.
func (s *Scheduler) grantLocked(js *jobState, t *task, worker, host string, now time.Time) error {
	if err := s.moveLocked(js, t, job.Running, job.SubState{}, job.CauseStart); err != nil {
		return err
	}
	t.Attempt, t.dispatched = t.dispatched, 0
	t.Worker, t.Host, t.RetryAt = worker, host, nil
	t.StartedAt, t.FinishedAt = &now, nil
	t.ExitCode, t.Signal, t.Message = nil, "", ""
	t.PID, t.ContainerID, t.Session, t.CPUTime, t.MaxRSS = 0, "", "", 0, 0
	t.Hostname, t.Ports = "", nil
	s.setPaths(t)
	s.workerLocked(worker, now).tasks[t] = js
	return nil
}

// HandleEvent records what a worker reports of an attempt. It returns nil
// once the change is committed (or was already), so the worker may ack.
//
// An ended event with Next set may get, in return, the next runnable task of
// the same pool, granted to the same worker in the same commit: the work
// then never goes through the stream, which saves a publish, a pull, a claim
// and an ack per task when a worker runs many short tasks.
func (s *Scheduler) HandleEvent(ctx context.Context, e *dispatch.Event) (*dispatch.Work, error) {
	r := s.HandleEvents(ctx, []*dispatch.Event{e})
	return r[0].Next, r[0].Err
}

// HandleEvents is HandleEvent for several events, in order, recorded in one
// commit: events that arrive together (one per busy slot of a worker, or
// from several workers) share its cost.
func (s *Scheduler) HandleEvents(ctx context.Context, evs []*dispatch.Event) []dispatch.EventResult {
	res := make([]dispatch.EventResult, len(evs))
	if err := s.awaitReady(ctx); err != nil {
		for i := range res {
			res[i].Err = err
		}
		return res
	}
	nexts := make([]*workItem, len(evs))
	s.mu.Lock()
	if err := s.syncedLocked(ctx); err != nil {
		s.mu.Unlock()
		for i := range res {
			res[i].Err = err
		}
		return res
	}
	now := s.cfg.Now().UTC()
	var changes []change
	for i, e := range evs {
		var ch []change
		ch, nexts[i], res[i] = s.eventLocked(e, now)
		changes = append(changes, ch...)
	}
	err := s.commitLocked(ctx, dedupe(changes))
	var works []*workItem
	if err == nil {
		works = s.dispatchLocked()
	}
	s.mu.Unlock()
	s.publish(works)
	for i := range res {
		switch {
		case res[i].Err != nil:
		case err != nil:
			res[i] = dispatch.EventResult{Err: err}
		case nexts[i] != nil:
			res[i].Next = nexts[i].work
		}
	}
	return res
}

// dedupe keeps one change per task, the last, with the output sizes of any.
// Batches are small: a scan beats a map.
func dedupe(changes []change) []change {
	if len(changes) < 2 {
		return changes
	}
	out := make([]change, 0, len(changes))
	for _, c := range changes {
		i := slices.IndexFunc(out, func(o change) bool { return o.t == c.t })
		if i < 0 {
			out = append(out, c)
			continue
		}
		if c.sizes == nil {
			c.sizes = out[i].sizes
		}
		out[i] = c
	}
	return out
}

// eventLocked applies one event to the scheduler's state and returns the
// changes to commit and the work it hands over, if any. A stale or repeated
// event changes nothing; its result may carry the work it was handed.
func (s *Scheduler) eventLocked(e *dispatch.Event, now time.Time) ([]change, *workItem, dispatch.EventResult) {
	js, t := s.lookupLocked(e.Job, e.Index)
	if t == nil || t.Attempt != e.Attempt || !t.live() {
		// Stale or repeated: what it says is already recorded. A repeated
		// ended event gets the work it was handed, if that is not started.
		var r dispatch.EventResult
		if h := s.handoffs[e.TaskKey]; h != nil && h.t.handedBy == e.TaskKey && h.t.State == job.Running && !h.t.reported() && h.t.Worker == e.Worker {
			r.Next = h.work
		}
		return nil, nil, r
	}
	if t.Worker != e.Worker {
		s.log.Warn("refused an event from a worker that does not hold the task",
			"task", e.TaskKey.String(), "kind", e.Kind, "sender", e.Worker, "holder", t.Worker)
		return nil, nil, dispatch.EventResult{Err: fmt.Errorf("%w: worker %s does not hold task %s", dispatch.ErrRefused, e.Worker, e.TaskKey)}
	}
	var changes []change
	var next *workItem
	var err error
	switch e.Kind {
	case dispatch.EventStarted:
		t.PID, t.ContainerID, t.Session = e.PID, e.ContainerID, e.Session
		t.Hostname, t.Ports = e.Hostname, e.Ports
		s.forgetHandoffLocked(t)
		s.lazyLocked(t)
	case dispatch.EventReleased:
		if t.reported() {
			break // started: only its end may follow
		}
		changes, err = s.releaseLocked(js, t)
	case dispatch.EventSuspended:
		if t.State == job.Running {
			changes, err = s.moveEventLocked(js, t, job.Suspended, job.SubState{}, job.CauseSuspend)
		}
	case dispatch.EventResumed:
		if t.State == job.Suspended {
			changes, err = s.moveEventLocked(js, t, job.Running, job.SubState{}, job.CauseResume)
		}
	case dispatch.EventRequeued: // restarted where it ran: still the worker's
		sub := job.SubState{Kind: job.ReasonRestarting, Value: strconv.Itoa(e.Restarts)}
		changes, err = s.moveEventLocked(js, t, job.Requeued, sub, job.CauseRestart)
	case dispatch.EventRunning:
		if job.Restarting(t.State, t.SubState) {
			changes, err = s.moveEventLocked(js, t, job.Running, job.SubState{}, job.CauseRestart)
		}
	case dispatch.EventEnded:
		if e.End == nil {
			return nil, nil, dispatch.EventResult{Err: fmt.Errorf("ended event of %d.%d without its end", e.Job, e.Index)}
		}
		if !e.End.State.Terminal() {
			return nil, nil, dispatch.EventResult{Err: fmt.Errorf("%w: ended event of %s with end.state %q: want Done or Failed", dispatch.ErrRefused, e.TaskKey, e.End.State)}
		}
		if e.PID != 0 || e.ContainerID != "" || e.Session != "" { // the started event was folded into this one
			t.PID, t.ContainerID, t.Session = e.PID, e.ContainerID, e.Session
			t.Hostname, t.Ports = e.Hostname, e.Ports
		}
		t.exitedAt = e.Time // for the exit → recorded metric
		if changes, err = s.endLocked(js, t, e.End, now); err != nil {
			break
		}
		if e.Next {
			labels := s.workerLabelsLocked(e.Worker)
			if e.Stay {
				// An OpenJD session asks for more of its step first.
				next = s.pickJobLocked(js, labels)
			}
			if next == nil {
				next = s.pickForLocked(js.pool, labels)
			}
			if next != nil && s.grantLocked(next.js, next.t, e.Worker, t.Host, now) != nil {
				next = nil // logged by moveLocked; nothing is handed over
			}
			if next != nil {
				next.t.handedBy = e.TaskKey
				s.handoffs[e.TaskKey] = next
				changes = append(changes, change{js: next.js, t: next.t})
			}
		}
	default:
		return nil, nil, dispatch.EventResult{Err: fmt.Errorf("unknown event kind %q", e.Kind)}
	}
	if err != nil {
		// The state machine refused what the event says: asking again
		// would not help.
		return nil, nil, dispatch.EventResult{Err: fmt.Errorf("%w: %w", dispatch.ErrRefused, err)}
	}
	return changes, next, dispatch.EventResult{}
}

// moveEventLocked is moveLocked for a change a worker's event makes.
func (s *Scheduler) moveEventLocked(js *jobState, t *task, to job.State, sub job.SubState, c job.Cause) ([]change, error) {
	if err := s.moveLocked(js, t, to, sub, c); err != nil {
		return nil, err
	}
	return []change{{js: js, t: t}}, nil
}

// releaseLocked puts back in the queue an attempt its worker never started,
// without spending it.
func (s *Scheduler) releaseLocked(js *jobState, t *task) ([]change, error) {
	st := job.Queued
	if t.Attempt > 1 {
		st = job.Requeued
	}
	if err := s.moveLocked(js, t, st, job.SubState{}, job.CauseReturn); err != nil {
		return nil, err
	}
	s.forgetHandoffLocked(t)
	if ws := s.workers[t.Worker]; ws != nil {
		delete(ws.tasks, t)
	}
	js.active--
	js.pool.used--
	t.Attempt--
	t.StartedAt, t.Worker, t.Host = nil, "", ""
	heap.Push(&js.queued, t.Index)
	js.pool.fix(js)
	return []change{{js: js, t: t}}, nil
}

// forgetHandoffLocked drops the record of how a task was handed over, once
// the worker has acted on it.
func (s *Scheduler) forgetHandoffLocked(t *task) {
	if t.handedBy != (dispatch.TaskKey{}) {
		delete(s.handoffs, t.handedBy)
		t.handedBy = dispatch.TaskKey{}
	}
}

// endLocked records the end of an active attempt: a rerunnable job that
// failed for a reason worth retrying is requeued while attempts remain.
func (s *Scheduler) endLocked(js *jobState, t *task, end *dispatch.End, now time.Time) ([]change, error) {
	tmpl := &js.spec.Template
	retry := end.State == job.Failed && tmpl.Rerunnable && t.Attempt < tmpl.MaxAttempts && retryable(end.SubState)
	to, sub, cause := end.State, end.SubState, job.CauseEnd
	if retry {
		to, sub, cause = job.Requeued, job.SubState{Kind: job.ReasonRetrying, Value: end.SubState.String()}, job.CauseRetry
	}
	if err := s.moveLocked(js, t, to, sub, cause); err != nil {
		return nil, err
	}
	s.forgetHandoffLocked(t)
	t.FinishedAt = &now
	t.ExitCode, t.Signal, t.Message = end.ExitCode, end.Signal, end.Message
	t.CPUTime, t.MaxRSS = end.CPUTime, end.MaxRSS
	if ws := s.workers[t.Worker]; ws != nil {
		delete(ws.tasks, t)
	}
	js.active--
	js.pool.used--
	if retry {
		due := now.Add(tmpl.RetryWait(t.Attempt, rand.Float64))
		t.RetryAt = &due
		s.retryLaterLocked(js, t)
	}
	js.pool.fix(js)
	changes := []change{{js: js, t: t, sizes: s.outputSizes(t)}}
	if js.ended() {
		changes = append(changes, s.jobEndedLocked(js, now)...)
	}
	return changes, nil
}

// outputSizes returns how much output an ended attempt left, for HasMoreData.
func (s *Scheduler) outputSizes(t *task) *store.Offsets {
	size := func(name string) int64 {
		fi, err := os.Stat(s.cfg.DataDir.TaskFile(t.JobID, t.Index, name))
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	return &store.Offsets{Stdout: size(datadir.StdoutFile), Stderr: size(datadir.StderrFile), Results: size(datadir.ResultFile)}
}

// HandleHeartbeat notes that a worker is alive and renews its lease.
// Attempts the scheduler believes run there but the worker no longer holds
// are lost; attempts granted since the heartbeat was written are spared.
// The reply lists the attempts the worker named that it does not hold (any
// more), which the worker stops without a word.
func (s *Scheduler) HandleHeartbeat(hb *dispatch.Heartbeat) dispatch.HeartbeatReply {
	select {
	case <-s.ready:
	default:
		// Still loading: the lease is renewed (nothing is run again until
		// the workers have had WorkerTimeout from the load to report in),
		// the rest waits for the next heartbeat.
		return dispatch.HeartbeatReply{OK: true, Lease: job.Duration(s.cfg.Lease)}
	}
	s.mu.Lock()
	now := s.cfg.Now().UTC()
	ws := s.workerLocked(hb.Worker, now)
	ws.hb = *hb
	if s.syncedLocked(s.ctx) != nil {
		// The state is being reloaded after a failed commit (a full
		// disk): the lease is renewed, since the worker's tasks are still
		// its own; what it holds is looked at by a later heartbeat.
		s.mu.Unlock()
		return dispatch.HeartbeatReply{OK: true, Lease: job.Duration(s.cfg.Lease)}
	}
	held := make(map[dispatch.TaskKey]bool, len(hb.Running))
	var drop []dispatch.TaskKey
	for _, k := range hb.Running {
		held[k] = true
		if _, t := s.lookupLocked(k.Job, k.Index); t == nil || t.Attempt != k.Attempt || !t.live() || t.Worker != hb.Worker {
			drop = append(drop, k)
		}
	}
	var changes []change
	for t, js := range ws.tasks {
		k := dispatch.TaskKey{Job: t.JobID, Index: t.Index, Attempt: t.Attempt}
		if held[k] || t.StartedAt == nil || t.StartedAt.After(now.Add(-recentClaim)) {
			continue
		}
		if !t.reported() {
			// Never reported started, and the worker, which holds a task
			// until its end is recorded, does not have it: the grant never
			// reached it (handed over in a reply lost to a server crash).
			// It goes back to the queue with its attempt unspent.
			ch, _ := s.releaseLocked(js, t) // an error is logged by moveLocked
			changes = append(changes, ch...)
			continue
		}
		changes = append(changes, s.loseLocked(js, t, fmt.Sprintf("worker %s no longer runs it", hb.Worker), now)...)
	}
	err := s.commitLocked(s.ctx, changes)
	var works []*workItem
	if err == nil {
		works = s.dispatchLocked()
	}
	s.mu.Unlock()
	s.publish(works)
	if len(drop) > 0 {
		s.log.Info("worker holds attempts it was not granted; it drops them", "worker", hb.Worker, "attempts", len(drop))
	}
	// The lease is renewed even if recording losses failed: those are about
	// other attempts, and the worker's running tasks are still its own.
	return dispatch.HeartbeatReply{OK: true, Lease: job.Duration(s.cfg.Lease), Drop: drop}
}

// recentClaim spares attempts claimed this recently from being taken as lost
// by a heartbeat, which the worker may have written before the claim's reply.
const recentClaim = 5 * time.Second

// loseLocked ends an attempt whose worker was lost. Its changes are nil if
// the state machine refused it (logged by moveLocked).
func (s *Scheduler) loseLocked(js *jobState, t *task, why string, now time.Time) []change {
	changes, _ := s.endLocked(js, t, &dispatch.End{State: job.Failed, SubState: job.SubState{Kind: job.ReasonLost}, Message: why}, now)
	return changes
}

func (s *Scheduler) workerLocked(id string, now time.Time) *workerState {
	ws, ok := s.workers[id]
	if !ok {
		ws = &workerState{tasks: map[*task]*jobState{}}
		s.workers[id] = ws
	}
	ws.lastSeen = now
	return ws
}

// watchWorkers takes the tasks of workers unheard of for WorkerTimeout as lost.
func (s *Scheduler) watchWorkers() {
	defer s.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		s.mu.Lock()
		if s.syncedLocked(s.ctx) != nil {
			s.mu.Unlock()
			continue
		}
		now := s.cfg.Now().UTC()
		var changes []change
		for id, ws := range s.workers {
			idle := now.Sub(ws.lastSeen)
			if idle > s.cfg.WorkerTimeout {
				for t, js := range ws.tasks {
					changes = append(changes, s.loseLocked(js, t, fmt.Sprintf("worker %s not heard from for %s", id, idle.Round(time.Second)), now)...)
				}
			}
			if idle > 10*s.cfg.WorkerTimeout && len(ws.tasks) == 0 {
				delete(s.workers, id)
			}
		}
		var works []*workItem
		if len(changes) > 0 && s.commitLocked(s.ctx, changes) == nil {
			works = s.dispatchLocked()
		}
		s.mu.Unlock()
		s.publish(works)
	}
}

// Workers lists the workers heard from recently.
func (s *Scheduler) Workers() []dispatch.WorkerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	out := make([]dispatch.WorkerStatus, 0, len(s.workers))
	for id, ws := range s.workers {
		st := dispatch.WorkerStatus{Heartbeat: ws.hb, LastSeen: ws.lastSeen, Alive: now.Sub(ws.lastSeen) <= s.cfg.WorkerTimeout}
		st.Worker = id
		out = append(out, st)
	}
	return out
}

func (s *Scheduler) lookupLocked(id int64, index int) (*jobState, *task) {
	js := s.jobs[id]
	if js == nil {
		return nil, nil
	}
	t := js.tasks.get(index)
	if t == nil {
		return js, nil
	}
	return js, t
}

// taskRef renders a task's address for messages.
func taskRef(js *jobState, index int) string {
	if js.isArray() {
		return strconv.FormatInt(js.id, 10) + "." + strconv.Itoa(index)
	}
	return strconv.FormatInt(js.id, 10)
}

// Holds reports whether worker runs the attempt key of an unended task: a
// remote worker may then send its output.
func (s *Scheduler) Holds(key dispatch.TaskKey, worker string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, t := s.lookupLocked(key.Job, key.Index)
	return t != nil && t.Attempt == key.Attempt && t.live() && t.Worker == worker
}

// workerPoolLocked returns the pool of a worker's last heartbeat; empty if
// none was heard yet.
func (s *Scheduler) workerPoolLocked(worker string) string {
	if ws := s.workers[worker]; ws != nil {
		return cmp.Or(ws.hb.Pool, job.PoolDefault)
	}
	return ""
}

// workerLabelsLocked returns the labels of a worker's last heartbeat.
func (s *Scheduler) workerLabelsLocked(worker string) map[string]string {
	if ws := s.workers[worker]; ws != nil {
		return ws.hb.Labels
	}
	return nil
}
