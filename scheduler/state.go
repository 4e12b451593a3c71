package scheduler

import (
	"container/heap"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/store"
)

// task is an unended task with what the scheduler tracks beyond job.Task.
type task struct {
	job.Task
	// dispatched is the attempt published to workers and not yet claimed;
	// 0 when none is in flight.
	dispatched int
	// handedBy is the ended attempt whose event reply handed this task over
	// (see HandleEvent); zero otherwise.
	handedBy dispatch.TaskKey
	// saved is the state, sub-state and attempt last committed, so that a
	// commit need not read them back to decide on a history entry.
	saved store.TaskPrev
	// exitedAt is when the worker saw the attempt end (its ended event's
	// time), for Observer; zero for ends the worker did not report.
	exitedAt time.Time
	// qidx is the task's position in its job's queue plus one; 0 when it
	// is not in it.
	qidx int
}

// save records that the task's current state is committed.
func (t *task) save() {
	t.saved = store.TaskPrev{State: t.State, SubState: t.SubState, Attempt: t.Attempt}
}

// reported reports whether the worker said it started the attempt.
func (t *task) reported() bool { return t.PID != 0 || t.ContainerID != "" || t.Session != "" }

// active reports whether the task holds a slot: dispatched, running or suspended.
func (t *task) active() bool { return t.dispatched != 0 || t.live() }

// live reports whether an attempt of the task is on a worker: Running,
// Suspended, or Requeued while its executor restarts it there
// (job.Restarting).
func (t *task) live() bool { return t.State.Active() || job.Restarting(t.State, t.SubState) }

// jobState is an unended job.
//
// An array's tasks that nothing has addressed yet are not tasks here: pend
// holds their indexes as ranges and their one state, as the
// store keeps them (see store/ranges.go). A task is made (materialised)
// when it is picked to run or addressed on its own; the store gives it a
// row when it is first committed. So submitting, holding, releasing and
// stopping a large array costs the same as a small one.
type jobState struct {
	id     int64
	spec   *job.Spec
	tasks  taskSet // unended materialised tasks only
	counts stateCounts
	total  int
	queued taskHeap       // runnable materialised tasks (Queued/Requeued, not dispatched)
	active int            // tasks holding a slot
	wait   map[int64]bool // jobs in After not yet Done
	pool   *pool
	pos    int // index in pool.eligible; -1 when not in it
	// pend is the tasks not materialised of an array; nil for a plain
	// job (a pointer: 100,000 plain jobs must fit in little memory).
	pend *pending
	// removed is set when the job was removed before it ended.
	removed bool
}

func (j *jobState) eligible() bool {
	return (len(j.queued) > 0 || j.pendReady()) && len(j.wait) == 0 &&
		(j.spec.MaxParallel == 0 || j.active < j.spec.MaxParallel)
}

// pendReady reports whether the job has tasks not materialised that may run.
func (j *jobState) pendReady() bool { return j.pendLen() > 0 && j.pend.state == job.Queued }

// pending is the tasks of an array not materialised: their indexes, all in
// state (pending: Queued or QueuedHeld) with sub; no indexes once they
// ended.
type pending struct {
	spanSet
	state     job.State
	sub       job.SubState
	submitted time.Time
}

// pendLen returns the number of tasks not materialised.
func (j *jobState) pendLen() int {
	if j.pend == nil {
		return 0
	}
	return j.pend.n
}

// materialise makes the task of index i, which pend holds, a task of its own.
func (j *jobState) materialise(i int) *task {
	j.pend.take(i)
	t := &task{Task: job.Task{JobID: j.id, Index: i, Name: j.spec.Name, State: j.pend.state, SubState: j.pend.sub}}
	t.SubmittedAt = j.pend.submitted
	if len(j.spec.Inputs) > 0 {
		t.Input = j.spec.Inputs[i-1]
	}
	t.save() // as the store has it: in a range, in the range's state
	j.tasks.put(t, true)
	return t
}

// setPend moves the tasks not materialised to a state. Ended, they are
// only counted.
func (j *jobState) setPend(st job.State, sub job.SubState) {
	n := j.pend.len()
	j.counts.add(j.pend.state, -n)
	j.counts.add(st, n)
	j.pend.state, j.pend.sub = st, sub
	if st.Terminal() {
		j.pend.spanSet = spanSet{}
	}
}

func (j *jobState) ended() bool { return j.counts.get(job.Done)+j.counts.get(job.Failed) == j.total }

// setState moves a task to a state, keeping the counts. Only moveLocked,
// which checks the move against the state machine, calls it.
func (j *jobState) setState(t *task, st job.State, sub job.SubState) {
	j.counts.add(t.State, -1)
	j.counts.add(st, 1)
	t.State, t.SubState = st, sub
	if st.Terminal() {
		j.tasks.del(t.Index)
	}
}

func (j *jobState) isArray() bool { return j.spec.IsArray() }

// pool is a set of workers with a slot limit and the jobs eligible to run there.
type pool struct {
	name     string
	slots    int
	used     int
	eligible jobHeap
}

// jobHeap orders eligible jobs: higher priority first, then lower ID (FIFO).
type jobHeap []*jobState

func (h jobHeap) Len() int { return len(h) }
func (h jobHeap) Less(a, b int) bool {
	if h[a].spec.Priority != h[b].spec.Priority {
		return h[a].spec.Priority > h[b].spec.Priority
	}
	return h[a].id < h[b].id
}
func (h jobHeap) Swap(a, b int) {
	h[a], h[b] = h[b], h[a]
	h[a].pos, h[b].pos = a, b
}
func (h *jobHeap) Push(x any) {
	j := x.(*jobState)
	j.pos = len(*h)
	*h = append(*h, j)
}
func (h *jobHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	j.pos = -1
	return j
}

// fix puts j in or out of its pool's eligible heap as its state now says.
func (p *pool) fix(j *jobState) {
	switch in, want := j.pos >= 0, j.eligible(); {
	case in && want:
		heap.Fix(&p.eligible, j.pos)
	case in:
		heap.Remove(&p.eligible, j.pos)
	case want:
		heap.Push(&p.eligible, j)
	}
}

// taskHeap is a min-heap of tasks by index (tasks of an array start in
// order), indexed so that a task leaves it in O(log n).
type taskHeap []*task

func (h taskHeap) Len() int           { return len(h) }
func (h taskHeap) Less(a, b int) bool { return h[a].Index < h[b].Index }
func (h taskHeap) Swap(a, b int) {
	h[a], h[b] = h[b], h[a]
	h[a].qidx, h[b].qidx = a+1, b+1
}
func (h *taskHeap) Push(x any) {
	t := x.(*task)
	*h = append(*h, t)
	t.qidx = len(*h)
}
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.qidx = 0
	return t
}

// push adds t unless it is in already.
func (h *taskHeap) push(t *task) {
	if t.qidx == 0 {
		heap.Push(h, t)
	}
}

// remove takes t out of the heap if it is in.
func (h *taskHeap) remove(t *task) {
	if t.qidx != 0 {
		heap.Remove(h, t.qidx-1)
	}
}

// workerState is a worker as heard from by heartbeat.
type workerState struct {
	hb       dispatch.Heartbeat
	lastSeen time.Time
	tasks    map[*task]*jobState // attempts it runs
}
