package openjd

import (
	"math"
	"sort"
	"strconv"
	"strings"
)

// ChunkSpec says how the values of a CHUNK[INT] task parameter are grouped
// into chunks (TASK_CHUNKING). A chunk is handed to a task as an integer
// range expression.
type ChunkSpec struct {
	// Size is the number of values per chunk (defaultTaskCount), at least 1.
	Size int64
	// Contiguous chunks are always one run of consecutive integers, written
	// "a-b" ("5-5" for one value); others may be any set of values, written
	// as a range expression such as "1-3,7,8".
	Contiguous bool
	// TargetRuntimeSeconds, when positive, asks the runner to adapt the
	// chunk size so that a chunk runs about this long.
	TargetRuntimeSeconds int64
}

// Adaptive reports whether the chunk size is meant to change as chunks
// complete.
func (c *ChunkSpec) Adaptive() bool { return c != nil && c.TargetRuntimeSeconds > 0 }

// chunker splits the values of a CHUNK[INT] parameter into chunks without
// listing them: a contiguous split has one segment per run of consecutive
// integers (or one segment of single-value chunks for a stepped run), a
// non-contiguous split one segment for all values. Within a segment the
// chunks are balanced: their sizes differ by at most one.
type chunker struct {
	vals       *IntRange
	contiguous bool
	segs       []chunkSeg
	ends       []int64 // ends[k] is the number of chunks in segs[0..k]
}

type chunkSeg struct {
	first, n int64 // index of the segment's first value, number of values
	singles  bool  // every value is a chunk of its own
	chunks   int64
}

// valueSeq returns the values of an INT or CHUNK[INT] parameter as an
// IntRange-shaped sequence, in the order they are given.
func (v TaskValues) valueSeq() *IntRange {
	if v.Range != nil {
		return v.Range
	}
	r := &IntRange{}
	for _, x := range v.Ints {
		if k := len(r.runs) - 1; k >= 0 && r.runs[k].step == 1 &&
			r.runs[k].start+int64(r.runs[k].count)-1 != math.MaxInt64 &&
			r.runs[k].start+int64(r.runs[k].count) == x {
			r.runs[k].count++
			r.ends[k]++
			continue
		}
		var total int64
		if len(r.ends) > 0 {
			total = r.ends[len(r.ends)-1]
		}
		r.runs = append(r.runs, intRun{start: x, step: 1, count: 1})
		r.ends = append(r.ends, total+1)
	}
	return r
}

func newChunker(vals *IntRange, spec ChunkSpec) *chunker {
	c := &chunker{vals: vals, contiguous: spec.Contiguous}
	size := max(spec.Size, 1)
	if !spec.Contiguous {
		if n := vals.Len(); n > 0 {
			c.segs = []chunkSeg{{n: n}}
		}
	} else {
		var first int64
		for k, run := range vals.runs {
			if k > 0 {
				first = vals.ends[k-1]
			}
			n := int64(run.count)
			if run.step != 1 && run.count > 1 {
				c.segs = append(c.segs, chunkSeg{first: first, n: n, singles: true})
				continue
			}
			if j := len(c.segs) - 1; j >= 0 && !c.segs[j].singles {
				last := vals.At(c.segs[j].first + c.segs[j].n - 1)
				if last != math.MaxInt64 && last+1 == run.start {
					c.segs[j].n += n
					continue
				}
			}
			c.segs = append(c.segs, chunkSeg{first: first, n: n})
		}
	}
	var total int64
	c.ends = make([]int64, len(c.segs))
	for k := range c.segs {
		s := &c.segs[k]
		if s.singles {
			s.chunks = s.n
		} else {
			s.chunks = s.n / size
			if s.n%size != 0 {
				s.chunks++
			}
		}
		total += s.chunks
		c.ends[k] = total
	}
	return c
}

// Len returns the number of chunks.
func (c *chunker) Len() int64 {
	if len(c.ends) == 0 {
		return 0
	}
	return c.ends[len(c.ends)-1]
}

// bounds returns the value indices [lo, hi) of chunk i.
func (c *chunker) bounds(i int64) (lo, hi int64) {
	k := sort.Search(len(c.ends), func(k int) bool { return c.ends[k] > i })
	j := i
	if k > 0 {
		j -= c.ends[k-1]
	}
	s := c.segs[k]
	if s.singles {
		return s.first + j, s.first + j + 1
	}
	small, left := s.n/s.chunks, s.n%s.chunks
	size := small
	if j < left {
		size++
	}
	off := j*small + min(j, left)
	return s.first + off, s.first + off + size
}

// At returns chunk i as a range expression.
func (c *chunker) At(i int64) string {
	lo, hi := c.bounds(i)
	return c.format(lo, hi)
}

func (c *chunker) format(lo, hi int64) string {
	if c.contiguous {
		return strconv.FormatInt(c.vals.At(lo), 10) + "-" + strconv.FormatInt(c.vals.At(hi-1), 10)
	}
	return compressValues(c.vals, lo, hi)
}

// compressValues writes the values at indices [lo, hi) of r as a range
// expression: runs of three or more consecutive integers as "a-b",
// stepped runs of three or more as "a-b:s", the rest one by one.
func compressValues(r *IntRange, lo, hi int64) string {
	var b strings.Builder
	put := func(s string) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s)
	}
	// A pending run of consecutive integers [from, to].
	var from, to int64
	pending := false
	flush := func() {
		if !pending {
			return
		}
		switch {
		case from == to:
			put(strconv.FormatInt(from, 10))
		case to-from == 1:
			put(strconv.FormatInt(from, 10) + "," + strconv.FormatInt(to, 10))
		default:
			put(strconv.FormatInt(from, 10) + "-" + strconv.FormatInt(to, 10))
		}
		pending = false
	}
	addConsecutive := func(a, z int64) {
		if pending && to != math.MaxInt64 && to+1 == a {
			to = z
			return
		}
		flush()
		from, to, pending = a, z, true
	}
	k := sort.Search(len(r.ends), func(k int) bool { return r.ends[k] > lo })
	for i := lo; i < hi; k++ {
		run := r.runs[k]
		var runFirst int64
		if k > 0 {
			runFirst = r.ends[k-1]
		}
		j0 := i - runFirst                       // first index used in this run
		j1 := min(hi-runFirst, int64(run.count)) // one past the last
		a := int64(uint64(run.start) + uint64(j0)*run.step)
		z := int64(uint64(run.start) + uint64(j1-1)*run.step)
		switch n := j1 - j0; {
		case run.step == 1 || n == 1:
			addConsecutive(a, z)
		case n >= 3:
			flush()
			put(strconv.FormatInt(a, 10) + "-" + strconv.FormatInt(z, 10) + ":" + strconv.FormatUint(run.step, 10))
		default:
			addConsecutive(a, a)
			addConsecutive(z, z)
		}
		i = runFirst + j1
	}
	flush()
	return b.String()
}

// ChunkCursor walks the values of a CHUNK[INT] parameter in chunks whose
// size may change from one chunk to the next, for adaptive chunking: the
// runner measures how long chunks take and asks for bigger or smaller ones.
type ChunkCursor struct {
	c   *chunker
	seg int
	pos int64 // index of the next value within segs[seg]
}

// NewChunkCursor returns a cursor over the values of p, which must be a
// CHUNK[INT] parameter with its Chunks set; nil otherwise.
func NewChunkCursor(p TaskParameter) *ChunkCursor {
	if p.Type != TaskChunkInt || p.Chunks == nil {
		return nil
	}
	spec := *p.Chunks
	spec.Size = 1 // sizes are chosen per call
	return &ChunkCursor{c: newChunker(p.Values.valueSeq(), spec)}
}

// Next returns the next chunk of at most size values (at least one) as a
// range expression, with its number of values; ok is false at the end.
func (cc *ChunkCursor) Next(size int64) (value string, n int64, ok bool) {
	for cc.seg < len(cc.c.segs) && cc.pos >= cc.c.segs[cc.seg].n {
		cc.seg++
		cc.pos = 0
	}
	if cc.seg >= len(cc.c.segs) {
		return "", 0, false
	}
	s := cc.c.segs[cc.seg]
	take := min(max(size, 1), s.n-cc.pos)
	if s.singles {
		take = 1
	}
	lo := s.first + cc.pos
	cc.pos += take
	return cc.c.format(lo, lo+take), take, true
}
