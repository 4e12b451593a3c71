package job

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Ref addresses a job or one task of it: "7" or "7.3".
type Ref struct {
	Job int64
	// Index is the task index; meaningful only when HasIndex.
	Index    int
	HasIndex bool
}

// String renders the reference as "ID" or "ID.INDEX".
func (r Ref) String() string {
	if r.HasIndex {
		return fmt.Sprintf("%d.%d", r.Job, r.Index)
	}
	return strconv.FormatInt(r.Job, 10)
}

// ParseRef parses "ID" or "ID.INDEX".
func ParseRef(s string) (Ref, error) {
	id, idx, hasIdx := strings.Cut(s, ".")
	j, err := strconv.ParseInt(id, 10, 64)
	if err != nil || j <= 0 {
		return Ref{}, fmt.Errorf("invalid job ID %q: want a positive number, or ID.INDEX for a task of an array", s)
	}
	r := Ref{Job: j}
	if hasIdx {
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 {
			return Ref{}, fmt.Errorf("invalid task index in %q: want ID.INDEX with INDEX a number", s)
		}
		r.Index, r.HasIndex = i, true
	}
	return r, nil
}

// MaxArrayTasks bounds the tasks of one array job.
const MaxArrayTasks = 10_000_000

// ParseArray parses an index range "BEGIN-END[:STEP]" or a single index "N".
func ParseArray(s string) (Array, error) {
	rng, step, hasStep := strings.Cut(s, ":")
	a := Array{Step: 1}
	b, e, isRange := strings.Cut(rng, "-")
	var err error
	if a.Begin, err = strconv.Atoi(strings.TrimSpace(b)); err != nil {
		return Array{}, fmt.Errorf("invalid array %q: want BEGIN-END[:STEP], such as 1-100:2", s)
	}
	a.End = a.Begin
	if isRange {
		if a.End, err = strconv.Atoi(strings.TrimSpace(e)); err != nil {
			return Array{}, fmt.Errorf("invalid array %q: want BEGIN-END[:STEP], such as 1-100:2", s)
		}
	}
	if hasStep {
		if a.Step, err = strconv.Atoi(strings.TrimSpace(step)); err != nil {
			return Array{}, fmt.Errorf("invalid array step in %q: want a positive number", s)
		}
	}
	if err := a.Validate(); err != nil {
		return Array{}, fmt.Errorf("invalid array %q: %w", s, err)
	}
	return a, nil
}

// Validate checks the range.
func (a Array) Validate() error {
	switch {
	case a.Begin < 1:
		return errors.New("begin must be 1 or more (index 0 is a plain job's only task)")
	case a.End < a.Begin:
		return errors.New("end must not be less than begin")
	case a.Step < 1:
		return errors.New("step must be 1 or more")
	case a.Len() > MaxArrayTasks:
		return fmt.Errorf("more than %d tasks", MaxArrayTasks)
	}
	return nil
}

// Len returns the number of indexes in the range.
func (a Array) Len() int {
	if a.Step < 1 || a.End < a.Begin {
		return 0
	}
	return (a.End-a.Begin)/a.Step + 1
}

// String renders the range as "BEGIN-END:STEP".
func (a Array) String() string { return fmt.Sprintf("%d-%d:%d", a.Begin, a.End, a.Step) }

const maxDurationSeconds = float64(math.MaxInt64 / int64(time.Second))

// ParseDuration parses a Go duration ("1h30m", "500ms"), a number of seconds
// ("90"), or days ("2d", "1d12h").
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if n < 0 || n > maxDurationSeconds || math.IsNaN(n) {
			return 0, fmt.Errorf("duration %q out of range", s)
		}
		return Duration(n * 1e9), nil
	}
	var days float64
	if d, rest, ok := strings.Cut(s, "d"); ok {
		n, err := strconv.ParseUint(d, 10, 32)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 30s, 5m, 1h30m or 2d", s)
		}
		days, s = float64(n), rest
	}
	var v time.Duration
	if s != "" {
		var err error
		if v, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("invalid duration %q: want e.g. 30s, 5m, 1h30m or 2d", s)
		}
	}
	if v < 0 {
		return 0, fmt.Errorf("duration %q is negative", s)
	}
	total := days*24*3600 + v.Seconds()
	if total > maxDurationSeconds {
		return 0, fmt.Errorf("duration %q out of range", s)
	}
	return Duration(int64(days)*int64(24*time.Hour) + int64(v)), nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String renders d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// ParseKV parses "KEY=VALUE". The key must be non-empty; the value may be.
func ParseKV(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("invalid %q: want KEY=VALUE", s)
	}
	return k, v, nil
}
