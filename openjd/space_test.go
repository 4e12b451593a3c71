package openjd

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestParseIntRange(t *testing.T) {
	t.Parallel()
	cases := map[string][]int64{
		"1 - 5":        {1, 2, 3, 4, 5},
		"1 - -1":       {1},
		"-1 - 1":       {-1, 0, 1},
		"1-5:2":        {1, 3, 5},
		"10-15:2,1-5":  {1, 2, 3, 4, 5, 10, 12, 14},
		"1-10:4":       {1, 5, 9},
		"10-1:-3":      {1, 4, 7, 10},
		"7":            {7},
		" 3 ,\t1 , 2 ": {1, 2, 3},
	}
	for expr, want := range cases {
		r, err := ParseIntRange(expr)
		if err != nil {
			t.Errorf("%q: %v", expr, err)
			continue
		}
		var got []int64
		for i := range r.Len() {
			got = append(got, r.At(i))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%q = %v, want %v", expr, got, want)
		}
	}
	for _, bad := range []string{"", "1-10:4,10-15", "1-10,5-15", "1-5:0", "a", "1,,2", "1-", "99999999999999999999"} {
		if _, err := ParseIntRange(bad); err == nil {
			t.Errorf("%q: expected an error", bad)
		}
	}
}

func TestParameterSpace(t *testing.T) {
	t.Parallel()
	ints := func(v ...int64) TaskValues { return TaskValues{Ints: v} }
	params := []TaskParameter{
		{Name: "A", Type: TaskInt, Values: ints(1, 2, 3)},
		{Name: "B", Type: TaskInt, Values: ints(10, 11, 12)},
		{Name: "C", Type: TaskInt, Values: ints(20, 21)},
		{Name: "D", Type: TaskString, Values: TaskValues{Strings: []string{"a", "b", "c"}}},
	}
	render := func(s *ParameterSpace) string {
		var out []string
		for _, vals := range s.All() {
			var parts []string
			for i, v := range vals {
				parts = append(parts, s.Params()[i].Name+"="+v.String())
			}
			out = append(out, strings.Join(parts, ","))
		}
		return strings.Join(out, " ")
	}
	want := "A=1,B=10,C=20,D=a A=1,B=10,C=21,D=a A=2,B=11,C=20,D=b A=2,B=11,C=21,D=b A=3,B=12,C=20,D=c A=3,B=12,C=21,D=c"
	s, err := NewParameterSpace(params, "(A, B, D) * C")
	if err != nil {
		t.Fatal(err)
	}
	if got := render(s); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	s, err = NewParameterSpace(params, "")
	if err != nil || s.Len() != 54 {
		t.Fatalf("default product: len %v, err %v", s, err)
	}
	if got := s.Task(1, nil); got[3].Str != "b" || got[2].Int != 20 {
		t.Errorf("task 1 = %v", got)
	}
	for _, bad := range []string{"(A,C) * B * D", "(A,B,A) * C * D", "A * B * C", "A * B * C * D * E"} {
		if _, err := NewParameterSpace(params, bad); err == nil {
			t.Errorf("%q: expected an error", bad)
		}
	}
	huge := make([]TaskParameter, 8)
	for i := range huge {
		r, _ := ParseIntRange("1-1000000")
		huge[i] = TaskParameter{Name: fmt.Sprintf("P%d", i), Type: TaskInt, Values: TaskValues{Range: r}}
	}
	if _, err := NewParameterSpace(huge, ""); !errors.Is(err, errTooManyTasks) {
		t.Errorf("overflow: got %v", err)
	}
}

func TestCombinationParse(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"A", "A * B", "(A, B) * C", "((A,B),(C,D))", "(A * B, C)"} {
		if _, err := ParseCombination(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "A B", "A @ B", "(A,", "A *", "(A,B", "*", "A,B"} {
		if _, err := ParseCombination(bad); err == nil {
			t.Errorf("%q: expected an error", bad)
		}
	}
}

// BenchmarkParameterSpace1M walks a 1,000 x 1,000 space (the limits allow at
// most 1,024 values per parameter) and reports the bytes allocated.
func BenchmarkParameterSpace1M(b *testing.B) {
	tmpl := []byte(`
specificationVersion: jobtemplate-2023-09
name: Bench
steps:
- name: Render
  parameterSpace:
    taskParameterDefinitions:
    - {name: Frame, type: INT, range: "1-1000"}
    - {name: Tile, type: INT, range: "0-999"}
    combination: Frame * Tile
  script:
    actions:
      onRun: {command: render, args: ["{{Task.Param.Frame}}", "{{Task.Param.Tile}}"]}
`)
	b.ReportAllocs()
	for b.Loop() {
		jt, err := ParseJobTemplate(tmpl, Options{})
		if err != nil {
			b.Fatal(err)
		}
		s, err := jt.Steps[0].ParameterSpace.Space(nil)
		if err != nil {
			b.Fatal(err)
		}
		if s.Len() != 1_000_000 {
			b.Fatalf("len %d", s.Len())
		}
		var sum int64
		for _, vals := range s.All() {
			sum += vals[0].Int + vals[1].Int
		}
		if sum != 1000*(1000*1001/2)+1000*(999*1000/2) {
			b.Fatalf("sum %d", sum)
		}
	}
}
