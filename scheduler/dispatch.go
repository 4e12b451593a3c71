package scheduler

import (
	"container/heap"
	"context"
	"maps"
	"strconv"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
)

// workItem is a task picked to run, to be published once the lock is released.
type workItem struct {
	work *dispatch.Work
	js   *jobState
	t    *task
}

// dispatchLocked picks tasks for every free slot, best job first, and marks
// them dispatched. The caller publishes what it returns after unlocking.
func (s *Scheduler) dispatchLocked() []*workItem {
	var out []*workItem
	for _, p := range s.pools {
		for {
			it := s.pickLocked(p)
			if it == nil {
				break
			}
			out = append(out, it)
		}
	}
	return out
}

// pickLocked takes the best runnable task of a pool if a slot is free, and
// marks it dispatched.
func (s *Scheduler) pickLocked(p *pool) *workItem {
	if p.used >= p.slots || p.eligible.Len() == 0 {
		return nil
	}
	return s.takeLocked(p.eligible[0])
}

// pickJobLocked is pickForLocked for one job: an OpenJD session asking for
// the next task of its step.
func (s *Scheduler) pickJobLocked(js *jobState, labels map[string]string) *workItem {
	if s.jobs[js.id] != js || js.pool.used >= js.pool.slots || !js.eligible() || !js.spec.Matches(labels) {
		return nil
	}
	return s.takeLocked(js)
}

// takeLocked marks the best runnable task of an eligible job dispatched.
func (s *Scheduler) takeLocked(js *jobState) *workItem {
	p := js.pool
	t := js.tasks.get(heap.Pop(&js.queued).(int))
	t.dispatched = t.Attempt + 1
	js.active++
	p.used++
	p.fix(js)
	return &workItem{work: s.work(js, t), js: js, t: t}
}

// pickForLocked is pickLocked for a worker with the given labels: it picks
// nothing if the pool's next job has constraints the labels miss (that work
// then goes through the stream, to a worker that has them).
func (s *Scheduler) pickForLocked(p *pool, labels map[string]string) *workItem {
	if p.eligible.Len() == 0 || !p.eligible[0].spec.Matches(labels) {
		return nil
	}
	return s.pickLocked(p)
}

// work builds the message for a task's next attempt.
func (s *Scheduler) work(js *jobState, t *task) *dispatch.Work {
	tmpl := js.spec.Template
	env := map[string]string{
		"BERTH_JOB_ID":     strconv.FormatInt(js.id, 10),
		"BERTH_TASK_INDEX": strconv.Itoa(t.Index),
		"BERTH_ATTEMPT":    strconv.Itoa(t.dispatched),
	}
	if js.spec.Name != "" {
		env["BERTH_JOB_NAME"] = js.spec.Name
	}
	if len(js.spec.Inputs) > 0 {
		env["BERTH_INPUT"] = t.Input
		tmpl = tmpl.WithInput(t.Input)
	}
	tmpl.Env = maps.Clone(tmpl.Env)
	var oj *dispatch.OpenJDWork
	var pos int64
	if o := js.spec.OpenJD; o != nil {
		// Last lets the session exit its environments before this task's
		// end is reported, so that their output is in its log.
		oj = &dispatch.OpenJDWork{Submission: o.Submission, Step: o.Step, Last: len(js.queued) == 0}
		pos = int64(max(t.Index-1, 0))
	}
	return &dispatch.Work{
		OpenJD:    oj,
		Position:  pos,
		TaskKey:   dispatch.TaskKey{Job: js.id, Index: t.Index, Attempt: t.dispatched},
		Pool:      js.spec.Pool,
		Name:      js.spec.Name,
		Template:  tmpl,
		Input:     t.Input,
		Env:       env,
		Dir:       s.cfg.DataDir.JobDir(js.id),
		SubmitDir: js.spec.SubmitDir,
		Stdout:    s.cfg.DataDir.TaskFile(js.id, t.Index, datadir.StdoutFile),
		Stderr:    s.cfg.DataDir.TaskFile(js.id, t.Index, datadir.StderrFile),
		Result:    s.cfg.DataDir.TaskFile(js.id, t.Index, datadir.ResultFile),
		Times:     s.cfg.DataDir.TaskFile(js.id, t.Index, datadir.TimesFile),
	}
}

// publish queues picked work for the publisher goroutine, so that a worker's
// report or a submit is answered without waiting for JetStream.
func (s *Scheduler) publish(items []*workItem) {
	if len(items) == 0 {
		return
	}
	s.pubMu.Lock()
	s.pubQueue = append(s.pubQueue, items...)
	s.pubPending += len(items)
	s.pubMu.Unlock()
	select {
	case s.pubWake <- struct{}{}:
	default:
	}
}

// publisher sends queued work to the stream, in order.
func (s *Scheduler) publisher() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.pubWake:
		}
		for {
			s.pubMu.Lock()
			q := s.pubQueue
			s.pubQueue = nil
			s.pubMu.Unlock()
			if len(q) == 0 {
				break
			}
			s.publishNow(q)
			s.pubMu.Lock()
			s.pubPending -= len(q)
			if s.pubPending == 0 {
				s.pubIdle.Broadcast()
			}
			s.pubMu.Unlock()
		}
	}
}

// flush waits until all queued work is published (for tests).
func (s *Scheduler) flush() {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	for s.pubPending > 0 {
		s.pubIdle.Wait()
	}
}

// publishNow sends work to the stream. Once a publish fails, that task and
// the rest go back to the queue and are retried a second later: the next
// publishes would most likely fail too, each after a timeout. A work stream
// broken by a write error is made anew first, if the Dispatcher can.
func (s *Scheduler) publishNow(items []*workItem) {
	for i, it := range items {
		err := s.cfg.Dispatcher.PublishWork(s.ctx, it.work)
		if err == nil {
			continue
		}
		if s.ctx.Err() != nil {
			return
		}
		s.log.Error("publishing work", "task", it.work.TaskKey, "err", err, "requeued", len(items)-i)
		s.mu.Lock()
		for _, it := range items[i:] {
			if it.t.dispatched == it.work.Attempt && !it.t.State.Terminal() {
				s.undispatchLocked(it.js, it.t)
				heap.Push(&it.js.queued, it.t.Index)
				it.js.pool.fix(it.js)
			}
		}
		s.mu.Unlock()
		s.repairWork()
		s.mu.Lock()
		s.redispatchLaterLocked()
		s.mu.Unlock()
		return
	}
}

// workRepairer is a Dispatcher that can make anew a work stream that a
// write error broke (dispatch.Publisher.RepairWork).
type workRepairer interface {
	RepairWork(ctx context.Context) (bool, error)
}

// repairWork repairs the work stream if it is broken. The work published
// before is then gone: every task dispatched and not yet claimed goes back
// to the queue, to be published again.
func (s *Scheduler) repairWork() {
	r, ok := s.cfg.Dispatcher.(workRepairer)
	if !ok {
		return
	}
	repaired, err := r.RepairWork(s.ctx)
	if err != nil {
		s.log.Error("repairing the work stream", "err", err)
	}
	if !repaired {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, js := range s.jobs {
		for _, t := range js.tasks.all() {
			if t.dispatched != 0 {
				s.undispatchLocked(js, t)
				heap.Push(&js.queued, t.Index)
				js.pool.fix(js)
				n++
			}
		}
	}
	s.log.Warn("work stream made anew after a write error; dispatching again", "tasks", n)
}

// redispatchLaterLocked dispatches again a second from now.
func (s *Scheduler) redispatchLaterLocked() {
	if s.retry == nil {
		s.retry = time.AfterFunc(time.Second, s.redispatch)
	} else {
		s.retry.Reset(time.Second)
	}
}

func (s *Scheduler) redispatch() {
	if s.ctx.Err() != nil {
		return
	}
	s.mu.Lock()
	var works []*workItem
	if s.syncedLocked(s.ctx) == nil {
		works = s.dispatchLocked()
	}
	s.mu.Unlock()
	s.publish(works)
}

// undispatchLocked frees the slot of a dispatched but unclaimed task.
func (s *Scheduler) undispatchLocked(js *jobState, t *task) {
	if t.dispatched == 0 {
		return
	}
	t.dispatched = 0
	js.active--
	js.pool.used--
}

// taskDir fills in the paths of a task's output files.
func (s *Scheduler) setPaths(t *task) {
	t.Stdout = s.cfg.DataDir.TaskFile(t.JobID, t.Index, datadir.StdoutFile)
	t.Stderr = s.cfg.DataDir.TaskFile(t.JobID, t.Index, datadir.StderrFile)
}

// retryable reports whether an attempt that ended so may be run again.
func retryable(sub job.SubState) bool {
	switch sub.Kind {
	case job.ReasonCanceled, job.ReasonTimeLimit, job.ReasonStartFailed, job.ReasonDependency:
		return false
	}
	return true
}
