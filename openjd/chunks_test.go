package openjd

import (
	"slices"
	"testing"
)

func TestChunks(t *testing.T) {
	t.Parallel()
	rng := func(s string) TaskValues {
		r, err := ParseIntRange(s)
		if err != nil {
			t.Fatal(err)
		}
		return TaskValues{Range: r}
	}
	cases := []struct {
		vals       TaskValues
		size       int64
		contiguous bool
		want       []string
	}{
		{rng("1-12"), 5, true, []string{"1-4", "5-8", "9-12"}},
		{rng("1-8"), 3, true, []string{"1-3", "4-6", "7-8"}},
		{rng("1-5"), 100, true, []string{"1-5"}},
		{rng("1-8"), 3, false, []string{"1-3", "4-6", "7,8"}},
		{rng("1-10"), 5, false, []string{"1-5", "6-10"}},
		{rng("1,10-12,18-50"), 10, true, []string{"1-1", "10-12", "18-26", "27-34", "35-42", "43-50"}},
		{rng("1-9:2"), 2, true, []string{"1-1", "3-3", "5-5", "7-7", "9-9"}},
		{rng("1-13:2"), 7, false, []string{"1-13:2"}},
		{rng("1-3,4-6"), 6, false, []string{"1-6"}},
		{TaskValues{Ints: []int64{5, 1, 2, 3, 9}}, 10, true, []string{"5-5", "1-3", "9-9"}},
		{TaskValues{Ints: []int64{5, 1, 2, 3, 9}}, 10, false, []string{"5,1-3,9"}},
	}
	for _, c := range cases {
		p := TaskParameter{Name: "F", Type: TaskChunkInt, Values: c.vals, Chunks: &ChunkSpec{Size: c.size, Contiguous: c.contiguous}}
		s, err := NewParameterSpace([]TaskParameter{p}, "")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range s.All() {
			got = append(got, v[0].String())
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("size %d contiguous %v: got %q, want %q", c.size, c.contiguous, got, c.want)
		}
	}
}

func TestChunkCursor(t *testing.T) {
	t.Parallel()
	r, _ := ParseIntRange("1-10,20-22")
	cc := NewChunkCursor(TaskParameter{Type: TaskChunkInt, Values: TaskValues{Range: r}, Chunks: &ChunkSpec{Contiguous: true}})
	var got []string
	for size := int64(1); ; size *= 2 {
		v, _, ok := cc.Next(size)
		if !ok {
			break
		}
		got = append(got, v)
	}
	want := []string{"1-1", "2-3", "4-7", "8-10", "20-22"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
