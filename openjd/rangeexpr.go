package openjd

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// IntRange is a parsed integer range expression such as "1-10:2,20"
// (Template Schemas 3.4.1.1.1). It holds the expression as sorted,
// non-overlapping arithmetic progressions, so "1-1000000" costs a few
// words, not a million integers.
type IntRange struct {
	runs []intRun
	ends []int64 // ends[k] is the number of values in runs[0..k]
}

// intRun is the ascending progression start, start+step, ... of count values.
type intRun struct {
	start       int64
	step, count uint64
	lo, hi      int64 // the bounds as written, for the overlap rule
	src         string
	// desc: written descending (10-1:-3); expressions see its values in
	// that order (RFC 0006 list(range_expr), as the reference does).
	desc bool
}

// ParseIntRange parses a range expression. The values come out in
// increasing order; overlapping elements are an error.
func ParseIntRange(s string) (*IntRange, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("range expression is empty")
	}
	var runs []intRun
	for elem := range strings.SplitSeq(s, ",") {
		r, err := parseRangeElem(elem)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].lo < runs[j].lo })
	r := &IntRange{runs: runs, ends: make([]int64, len(runs))}
	var total uint64
	for k, run := range runs {
		if k > 0 && run.lo <= runs[k-1].hi {
			return nil, fmt.Errorf("%q overlaps %q", strings.TrimSpace(runs[k-1].src), strings.TrimSpace(run.src))
		}
		total += run.count
		if total > math.MaxInt64 || total < run.count {
			return nil, errors.New("range expression has too many values")
		}
		r.ends[k] = int64(total)
	}
	r.merge()
	return r, nil
}

// merge joins each run to the one before it when it continues that run's
// progression with the same step, as the canonical text does: "1,2,3" is
// "1-3" (a value alone is a run of step 1), while "1,3,5" stays as written.
func (r *IntRange) merge() {
	out := r.runs[:1]
	for _, run := range r.runs[1:] {
		prev := &out[len(out)-1]
		if prev.step == run.step && prev.last() < run.start && uint64(run.start)-uint64(prev.last()) == run.step {
			prev.count += run.count
			prev.desc = false // a joined run reads ascending
			continue
		}
		out = append(out, run)
	}
	r.runs = out
	r.ends = r.ends[:len(out)]
	var total int64
	for k, run := range out {
		total += int64(run.count)
		r.ends[k] = total
	}
}

func (run intRun) last() int64 { return int64(uint64(run.start) + (run.count-1)*run.step) }

// parseRangeElem parses <Int> | <Int>-<Int> | <Int>-<Int>:<Skip>, with
// spaces or tabs around the pieces.
func parseRangeElem(src string) (intRun, error) {
	p := rangeLexer{s: src}
	p.skipWS()
	x, err := p.int("a number")
	if err != nil {
		return intRun{}, err
	}
	y, step := x, int64(1)
	p.skipWS()
	if p.peek() == '-' {
		p.i++
		p.skipWS()
		if y, err = p.int("the end of the range"); err != nil {
			return intRun{}, err
		}
		p.skipWS()
		if p.peek() == ':' {
			p.i++
			p.skipWS()
			if step, err = p.int("the step"); err != nil {
				return intRun{}, err
			}
			if step == 0 {
				return intRun{}, fmt.Errorf("%q: the step must not be zero", strings.TrimSpace(src))
			}
			p.skipWS()
		}
	}
	if p.i < len(p.s) {
		return intRun{}, fmt.Errorf("%q: unexpected %q", strings.TrimSpace(src), p.s[p.i:])
	}
	run := intRun{start: x, step: 1, count: 1, lo: min(x, y), hi: max(x, y), src: src}
	switch {
	case step > 0 && x < y:
		run.step = uint64(step)
		run.count, err = progressionLen(uint64(y)-uint64(x), run.step)
	case step < 0 && x > y:
		// Descending: store it ascending from its last value.
		run.step = uint64(-(step + 1)) + 1
		run.count, err = progressionLen(uint64(x)-uint64(y), run.step)
		run.start = int64(uint64(x) - (run.count-1)*run.step)
		run.desc = run.count > 1
	}
	// Otherwise the element is just x (Template Schemas: "1 - -1" is [1]).
	if err != nil {
		return intRun{}, fmt.Errorf("%q: %w", strings.TrimSpace(src), err)
	}
	return run, nil
}

func progressionLen(span, step uint64) (uint64, error) {
	q := span / step
	if q >= math.MaxInt64 {
		return 0, errors.New("range has too many values")
	}
	return q + 1, nil
}

type rangeLexer struct {
	s string
	i int
}

func (p *rangeLexer) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *rangeLexer) skipWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *rangeLexer) int(what string) (int64, error) {
	start := p.i
	if c := p.peek(); c == '-' || c == '+' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		p.i++
	}
	if p.i == digits {
		return 0, fmt.Errorf("%q: expected %s", strings.TrimSpace(p.s), what)
	}
	v, err := strconv.ParseInt(p.s[start:p.i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is outside the 64-bit integer range", p.s[start:p.i])
	}
	return v, nil
}

// Len returns the number of values.
func (r *IntRange) Len() int64 {
	if len(r.ends) == 0 {
		return 0
	}
	return r.ends[len(r.ends)-1]
}

// At returns the i-th value in increasing order; it panics if i is out of
// range, like a slice index.
func (r *IntRange) At(i int64) int64 {
	if i < 0 || i >= r.Len() {
		panic(fmt.Sprintf("openjd: range index %d out of range [0,%d)", i, r.Len()))
	}
	k := sort.Search(len(r.ends), func(k int) bool { return r.ends[k] > i })
	j := i
	if k > 0 {
		j -= r.ends[k-1]
	}
	run := r.runs[k]
	return int64(uint64(run.start) + uint64(j)*run.step)
}

// Ordered returns the i-th value in the order the expression gives
// them: runs by their smallest value, each run in the direction it was
// written ("10-1:-3" is 10, 7, 4, 1). At gives the values in increasing
// order, as parameter spaces use them.
func (r *IntRange) Ordered(i int64) int64 {
	if i < 0 || i >= r.Len() {
		panic(fmt.Sprintf("openjd: range index %d out of range [0,%d)", i, r.Len()))
	}
	k := sort.Search(len(r.ends), func(k int) bool { return r.ends[k] > i })
	j := i
	if k > 0 {
		j -= r.ends[k-1]
	}
	run := r.runs[k]
	if run.desc {
		j = int64(run.count) - 1 - j
	}
	return int64(uint64(run.start) + uint64(j)*run.step)
}

// String returns the expression in canonical form, e.g. "1-9:2,20".
func (r *IntRange) String() string {
	var b strings.Builder
	for k, run := range r.runs {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(run.start, 10))
		if run.count == 2 {
			b.WriteByte(',')
			b.WriteString(strconv.FormatInt(run.last(), 10))
		} else if run.count > 2 {
			last := int64(uint64(run.start) + (run.count-1)*run.step)
			b.WriteByte('-')
			b.WriteString(strconv.FormatInt(last, 10))
			if run.step != 1 {
				b.WriteByte(':')
				b.WriteString(strconv.FormatUint(run.step, 10))
			}
		}
	}
	return b.String()
}

// Contains reports whether v is one of the values.
func (r *IntRange) Contains(v int64) bool {
	for _, run := range r.runs {
		last := int64(uint64(run.start) + (run.count-1)*run.step)
		if v >= run.start && v <= last && (uint64(v)-uint64(run.start))%run.step == 0 {
			return true
		}
	}
	return false
}
