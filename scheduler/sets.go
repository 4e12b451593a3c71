package scheduler

import (
	"sort"

	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/store"
)

// stateIndex maps a state to its slot in stateCounts.
var stateIndex = func() map[job.State]int {
	m := make(map[job.State]int, len(job.States))
	for i, s := range job.States {
		m[s] = i
	}
	return m
}()

// stateCounts counts a job's tasks by state. An array, not a map: the
// scheduler keeps one per queued job, and 100,000 queued jobs must fit in
// little memory.
type stateCounts [9]int32

func (c *stateCounts) add(s job.State, n int) { c[stateIndex[s]] += int32(n) }
func (c *stateCounts) get(s job.State) int    { return int(c[stateIndex[s]]) }

// summarize gives the job's state, as job.Summarize does.
func (c *stateCounts) summarize() job.State {
	m := make(map[job.State]int, 4)
	for i, n := range c {
		if n != 0 {
			m[job.States[i]] = int(n)
		}
	}
	return job.Summarize(m)
}

// taskSet holds a job's unended tasks. Most jobs have one task, which needs
// no map.
type taskSet struct {
	one  *task
	many map[int]*task
}

func (s *taskSet) get(i int) *task {
	if s.many != nil {
		return s.many[i]
	}
	if s.one != nil && s.one.Index == i {
		return s.one
	}
	return nil
}

func (s *taskSet) put(t *task, array bool) {
	if !array {
		s.one = t
		return
	}
	if s.many == nil {
		s.many = make(map[int]*task)
	}
	s.many[t.Index] = t
}

func (s *taskSet) del(i int) {
	if s.many != nil {
		delete(s.many, i)
	} else if s.one != nil && s.one.Index == i {
		s.one = nil
	}
}

// all returns the tasks, in no order.
func (s *taskSet) all() []*task {
	if s.many == nil {
		if s.one == nil {
			return nil
		}
		return []*task{s.one}
	}
	out := make([]*task, 0, len(s.many))
	for _, t := range s.many {
		out = append(out, t)
	}
	return out
}

// spanSet is a set of task indexes as sorted, disjoint ranges: the tasks of
// an array not yet materialised. Most arrays are one range from the next
// index to start to the last.
type spanSet struct {
	r []store.Range
	n int
}

func (s *spanSet) len() int { return s.n }

// add appends a range above all others.
func (s *spanSet) add(r store.Range) {
	s.r = append(s.r, r)
	s.n += r.Len()
}

// first returns the lowest index; the set must not be empty.
func (s *spanSet) first() int { return s.r[0].Lo }

// find returns the position of the range that may hold i.
func (s *spanSet) find(i int) int {
	return sort.Search(len(s.r), func(k int) bool { return s.r[k].Hi >= i })
}

func (s *spanSet) has(i int) bool {
	k := s.find(i)
	return k < len(s.r) && s.r[k].Contains(i)
}

// take removes i from the set, if it is in.
func (s *spanSet) take(i int) {
	k := s.find(i)
	if k == len(s.r) || !s.r[k].Contains(i) {
		return
	}
	r := s.r[k]
	s.n--
	switch {
	case r.Lo == r.Hi:
		s.r = append(s.r[:k], s.r[k+1:]...)
	case i == r.Lo:
		s.r[k].Lo += r.Step
	case i == r.Hi:
		s.r[k].Hi -= r.Step
	default:
		s.r[k].Hi = i - r.Step
		s.r = append(s.r[:k+1], append([]store.Range{{Lo: i + r.Step, Hi: r.Hi, Step: r.Step}}, s.r[k+1:]...)...)
	}
}
