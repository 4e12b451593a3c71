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
type jobState struct {
	id     int64
	spec   *job.Spec
	tasks  taskSet // unended tasks only
	counts stateCounts
	total  int
	queued intHeap        // indexes of runnable tasks (Queued/Requeued, not dispatched)
	active int            // tasks holding a slot
	wait   map[int64]bool // jobs in After not yet Done
	pool   *pool
	pos    int // index in pool.eligible; -1 when not in it
	// removed is set when the job was removed before it ended.
	removed bool
}

func (j *jobState) eligible() bool {
	return len(j.queued) > 0 && len(j.wait) == 0 &&
		(j.spec.MaxParallel == 0 || j.active < j.spec.MaxParallel)
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

// intHeap is a min-heap of task indexes: tasks of an array start in order.
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(a, b int) bool { return h[a] < h[b] }
func (h intHeap) Swap(a, b int)      { h[a], h[b] = h[b], h[a] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// remove takes index i out of the heap if present. Rare (hold, cancel of a
// queued task), so a linear search is fine.
func (h *intHeap) remove(i int) {
	for k, v := range *h {
		if v == i {
			heap.Remove(h, k)
			return
		}
	}
}

// workerState is a worker as heard from by heartbeat.
type workerState struct {
	hb       dispatch.Heartbeat
	lastSeen time.Time
	tasks    map[*task]*jobState // attempts it runs
}
