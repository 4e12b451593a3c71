package openjd

import (
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strconv"
	"strings"
)

// TaskParameterType is the type of a task parameter.
type TaskParameterType string

// Task parameter types. ChunkInt needs the TASK_CHUNKING extension.
const (
	TaskInt      TaskParameterType = "INT"
	TaskFloat    TaskParameterType = "FLOAT"
	TaskString   TaskParameterType = "STRING"
	TaskPath     TaskParameterType = "PATH"
	TaskChunkInt TaskParameterType = "CHUNK[INT]"
)

// exprType is the EXPR expression type of the parameter's values; a
// chunk is a range_expr.
func (t TaskParameterType) exprType() string {
	switch t {
	case TaskChunkInt:
		return "range_expr"
	case TaskString:
		return ""
	}
	return strings.ToLower(string(t))
}

func (t TaskParameterType) isInt() bool { return t == TaskInt || t == TaskChunkInt }

// TaskValues are the concrete values of one task parameter: exactly one of
// Range (an INT or CHUNK[INT] range expression), Ints (an INT list) or
// Strings (FLOAT values as written, STRING and PATH values) is set.
type TaskValues struct {
	Range   *IntRange
	Ints    []int64
	Strings []string
}

// Len returns the number of values.
func (v TaskValues) Len() int64 {
	switch {
	case v.Range != nil:
		return v.Range.Len()
	case v.Ints != nil:
		return int64(len(v.Ints))
	}
	return int64(len(v.Strings))
}

// TaskValue is the value of one task parameter in one task. INT uses Int;
// the others, CHUNK[INT] included (a chunk is a range expression), use Str.
type TaskValue struct {
	Type TaskParameterType
	Int  int64
	Str  string
}

// String formats the value as format strings see it.
func (v TaskValue) String() string {
	if v.Type == TaskInt {
		return strconv.FormatInt(v.Int, 10)
	}
	return v.Str
}

// TaskParameter is one dimension of a parameter space, with its values.
type TaskParameter struct {
	Name   string
	Type   TaskParameterType
	Values TaskValues
	// Chunks is set for a CHUNK[INT] parameter: the dimension then has one
	// entry per chunk instead of one per value. Without it a CHUNK[INT]
	// parameter has one single-value chunk per value.
	Chunks *ChunkSpec

	chunks *chunker
}

// Len returns the number of entries of the dimension: values, or chunks
// for a CHUNK[INT] parameter.
func (p *TaskParameter) Len() int64 {
	if p.chunks != nil {
		return p.chunks.Len()
	}
	return p.Values.Len()
}

func (p *TaskParameter) at(i int64) TaskValue {
	switch {
	case p.chunks != nil:
		return TaskValue{Type: p.Type, Str: p.chunks.At(i)}
	case p.Values.Range != nil:
		return TaskValue{Type: p.Type, Int: p.Values.Range.At(i)}
	case p.Values.Ints != nil:
		return TaskValue{Type: p.Type, Int: p.Values.Ints[i]}
	}
	return TaskValue{Type: p.Type, Str: p.Values.Strings[i]}
}

// ParameterSpace is the set of tasks of a step: its task parameters
// combined by the combination expression. Tasks are computed on demand from
// their index; nothing proportional to the number of tasks is stored.
type ParameterSpace struct {
	params []TaskParameter
	root   *spaceNode
}

// spaceNode is a node of the combination tree with its size. A leaf refers
// to a parameter by position.
type spaceNode struct {
	param int // leaf if kids == nil
	zip   bool
	kids  []*spaceNode
	n     int64 // number of tuples; -1 if unknown (values not resolved yet)
}

// errTooManyTasks is returned when a product of ranges exceeds int64.
var errTooManyTasks = errors.New("the parameter space has more than 2^63-1 tasks")

// NewParameterSpace combines params by the combination expression; an
// empty combination means the product of all parameters in order.
func NewParameterSpace(params []TaskParameter, combination string) (*ParameterSpace, error) {
	lens := make([]int64, len(params))
	names := make([]string, len(params))
	params = slices.Clone(params)
	for i := range params {
		p := &params[i]
		p.chunks = nil
		if p.Type == TaskChunkInt {
			spec := ChunkSpec{Size: 1, Contiguous: true}
			if p.Chunks != nil {
				spec = *p.Chunks
			}
			p.chunks = newChunker(p.Values.valueSeq(), spec)
		}
		lens[i] = p.Len()
		names[i] = p.Name
	}
	var combo Combination
	if combination != "" {
		var err error
		if combo, err = ParseCombination(combination); err != nil {
			return nil, err
		}
	}
	root, errs := buildSpace(names, lens, combo)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &ParameterSpace{params: params, root: root}, nil
}

// buildSpace checks a combination against the parameters (each named
// exactly once, zipped items of equal length) and sizes its tree. Lengths
// of -1 are unknown and skip the length rules. A nil combo is the product of
// all parameters.
func buildSpace(names []string, lens []int64, combo Combination) (*spaceNode, []error) {
	pos := make(map[string]int, len(names))
	for i, n := range names {
		pos[n] = i
	}
	if combo == nil {
		terms := make([]Combination, len(names))
		for i, n := range names {
			terms[i] = ComboParam{Name: n}
		}
		combo = ComboProduct{Terms: terms}
	}
	var errs []error
	seen := make(map[string]bool, len(names))
	combo.Params(func(n string) {
		if _, ok := pos[n]; !ok {
			errs = append(errs, fmt.Errorf("%s is not a task parameter of this step", n))
		} else if seen[n] {
			errs = append(errs, fmt.Errorf("%s appears more than once", n))
		}
		seen[n] = true
	})
	for _, n := range names {
		if !seen[n] {
			errs = append(errs, fmt.Errorf("task parameter %s is missing from the combination", n))
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	var build func(c Combination) *spaceNode
	build = func(c Combination) *spaceNode {
		switch c := c.(type) {
		case ComboParam:
			return &spaceNode{param: pos[c.Name], n: lens[pos[c.Name]]}
		case ComboZip:
			nd := &spaceNode{zip: true, n: -1}
			for _, it := range c.Items {
				k := build(it)
				nd.kids = append(nd.kids, k)
				if k.n < 0 {
					continue
				}
				if nd.n >= 0 && k.n != nd.n {
					errs = append(errs, fmt.Errorf("in %s, %s has %d values but an earlier item has %d", c, it, k.n, nd.n))
				}
				nd.n = k.n
			}
			return nd
		case ComboProduct:
			nd := &spaceNode{n: 1}
			for _, t := range c.Terms {
				k := build(t)
				nd.kids = append(nd.kids, k)
				switch {
				case nd.n < 0 || k.n < 0:
					nd.n = -1
				case k.n != 0 && nd.n > math.MaxInt64/k.n:
					errs = append(errs, errTooManyTasks)
					nd.n = -1
				default:
					nd.n *= k.n
				}
			}
			return nd
		}
		panic("openjd: unknown combination node")
	}
	root := build(combo)
	return root, errs
}

// Len returns the number of tasks.
func (s *ParameterSpace) Len() int64 { return s.root.n }

// Params returns the task parameters, in definition order; task values
// are reported in this order.
func (s *ParameterSpace) Params() []TaskParameter { return s.params }

// Task returns the values of task i, one per parameter in definition order,
// stored into dst (grown if needed) so that a walk allocates nothing per
// task. It panics if i is out of range.
func (s *ParameterSpace) Task(i int64, dst []TaskValue) []TaskValue {
	if i < 0 || i >= s.root.n {
		panic(fmt.Sprintf("openjd: task index %d out of range [0,%d)", i, s.root.n))
	}
	if cap(dst) < len(s.params) {
		dst = make([]TaskValue, len(s.params))
	}
	dst = dst[:len(s.params)]
	s.fill(s.root, i, dst)
	return dst
}

func (s *ParameterSpace) fill(nd *spaceNode, i int64, dst []TaskValue) {
	switch {
	case nd.kids == nil:
		dst[nd.param] = s.params[nd.param].at(i)
	case nd.zip:
		for _, k := range nd.kids {
			s.fill(k, i, dst)
		}
	default:
		// Mixed radix: the last term varies fastest.
		for j := len(nd.kids) - 1; j >= 0; j-- {
			k := nd.kids[j]
			s.fill(k, i%k.n, dst)
			i /= k.n
		}
	}
}

// All walks the tasks in order. The slice passed to yield is reused from one
// task to the next; copy it to keep it.
func (s *ParameterSpace) All() iter.Seq2[int64, []TaskValue] {
	return func(yield func(int64, []TaskValue) bool) {
		buf := make([]TaskValue, len(s.params))
		for i := range s.root.n {
			if !yield(i, s.Task(i, buf)) {
				return
			}
		}
	}
}

// ChunkParam returns the position of the CHUNK[INT] parameter among
// Params, or -1 if the space has none.
func (s *ParameterSpace) ChunkParam() int {
	for i := range s.params {
		if s.params[i].Type == TaskChunkInt {
			return i
		}
	}
	return -1
}

// WithoutParam returns the space of the other parameters when parameter i
// is taken out of a product (a CHUNK[INT] parameter always is one, since it
// may not be zipped): walking it and, for each of its tasks, every value
// of parameter i, covers the same tasks. Runners use it for adaptive
// chunking, where the chunks of parameter i are formed as tasks complete.
// It returns nil if parameter i is inside a zip ( , ).
func (s *ParameterSpace) WithoutParam(i int) *ParameterSpace {
	var cut func(nd *spaceNode) (*spaceNode, bool)
	cut = func(nd *spaceNode) (*spaceNode, bool) {
		switch {
		case nd.kids == nil:
			if nd.param == i {
				return nil, true
			}
			p := nd.param
			if p > i {
				p--
			}
			return &spaceNode{param: p, n: nd.n}, true
		case nd.zip:
			c := &spaceNode{zip: true, n: nd.n}
			for _, k := range nd.kids {
				kc, ok := cut(k)
				if !ok || kc == nil {
					return nil, false
				}
				c.kids = append(c.kids, kc)
			}
			return c, true
		}
		c := &spaceNode{n: 1, kids: []*spaceNode{}}
		for _, k := range nd.kids {
			kc, ok := cut(k)
			if !ok {
				return nil, false
			}
			if kc != nil {
				c.kids = append(c.kids, kc)
				c.n *= kc.n
			}
		}
		return c, true
	}
	root, ok := cut(s.root)
	if !ok {
		return nil
	}
	if root == nil {
		root = &spaceNode{n: 1, kids: []*spaceNode{}}
	}
	params := append(slices.Clone(s.params[:i]), s.params[i+1:]...)
	return &ParameterSpace{params: params, root: root}
}

// UnchunkedLen returns the number of tasks counting every value of a
// CHUNK[INT] parameter as one task; Len counts its chunks.
func (s *ParameterSpace) UnchunkedLen() int64 {
	ci := s.ChunkParam()
	if ci < 0 || s.params[ci].chunks == nil {
		return s.root.n
	}
	c := s.params[ci].chunks.Len()
	if c == 0 {
		return 0
	}
	return s.root.n / c * s.params[ci].Values.Len()
}
