package scheduler

import "github.com/berth-run/berth/job"

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
