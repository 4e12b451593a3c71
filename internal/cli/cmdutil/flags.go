package cmdutil

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/berth-run/berth/job"
)

// The flag values below parse with package job's parsers as the flag is
// read, so a bad value fails as
//
//	invalid argument "1-x" for "--array" flag: invalid array "1-x": ...
//
// and never reaches the server.

// ArrayVar defines a flag holding a job.Array ("1-100:2").
func ArrayVar(fs *pflag.FlagSet, p **job.Array, name, usage string) {
	fs.Var(&arrayValue{p}, name, usage)
}

type arrayValue struct{ p **job.Array }

func (v *arrayValue) Set(s string) error {
	a, err := job.ParseArray(s)
	if err != nil {
		return err
	}
	*v.p = &a
	return nil
}

func (v *arrayValue) String() string {
	if v.p == nil || *v.p == nil {
		return ""
	}
	return (*v.p).String()
}

func (v *arrayValue) Type() string { return "range" }

// DurationVar defines a flag holding a job.Duration ("30s", "1h30m", "2d", "90").
func DurationVar(fs *pflag.FlagSet, p *job.Duration, name, usage string) {
	fs.Var(&durationValue{p}, name, usage)
}

type durationValue struct{ p *job.Duration }

func (v *durationValue) Set(s string) error {
	d, err := job.ParseDuration(s)
	if err != nil {
		return err
	}
	*v.p = d
	return nil
}

func (v *durationValue) String() string {
	if v.p == nil || *v.p == 0 {
		return ""
	}
	return v.p.String()
}

func (v *durationValue) Type() string { return "duration" }

// KVVar defines a repeatable KEY=VALUE flag filling a map.
func KVVar(fs *pflag.FlagSet, p *map[string]string, name, usage string) {
	fs.Var(&kvValue{p}, name, usage)
}

type kvValue struct{ p *map[string]string }

func (v *kvValue) Set(s string) error {
	k, val, err := job.ParseKV(s)
	if err != nil {
		return err
	}
	if *v.p == nil {
		*v.p = map[string]string{}
	}
	(*v.p)[k] = val
	return nil
}

func (v *kvValue) String() string { return "" }
func (v *kvValue) Type() string   { return "key=value" }

// IDsVar defines a repeatable flag of comma-separated job IDs.
func IDsVar(fs *pflag.FlagSet, p *[]int64, name, usage string) {
	fs.Var(&idsValue{p}, name, usage)
}

type idsValue struct{ p *[]int64 }

func (v *idsValue) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		id, err := ParseID(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		*v.p = append(*v.p, id)
	}
	return nil
}

func (v *idsValue) String() string {
	if v.p == nil {
		return ""
	}
	s := make([]string, len(*v.p))
	for i, id := range *v.p {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, ",")
}

func (v *idsValue) Type() string { return "ids" }

// StatesVar defines a repeatable flag of comma-separated job states.
func StatesVar(fs *pflag.FlagSet, p *[]job.State, name, usage string) {
	fs.Var(&statesValue{p}, name, usage)
}

type statesValue struct{ p *[]job.State }

func (v *statesValue) Set(s string) error {
	for _, f := range strings.Split(s, ",") {
		st, err := job.ParseState(strings.TrimSpace(f))
		if err != nil {
			return err
		}
		*v.p = append(*v.p, st)
	}
	return nil
}

func (v *statesValue) String() string {
	if v.p == nil {
		return ""
	}
	s := make([]string, len(*v.p))
	for i, st := range *v.p {
		s[i] = string(st)
	}
	return strings.Join(s, ",")
}

func (v *statesValue) Type() string { return "states" }

// SinceVar defines a flag holding a point in time given as RFC3339 or as a
// duration ago ("1h", "2d"), resolved with now.
func SinceVar(fs *pflag.FlagSet, p *time.Time, now func() time.Time, name, usage string) {
	fs.Var(&sinceValue{p, now}, name, usage)
}

type sinceValue struct {
	p   *time.Time
	now func() time.Time
}

func (v *sinceValue) Set(s string) error {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		*v.p = t
		return nil
	}
	d, err := job.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration ago such as 1h or 2d, or an RFC3339 time such as 2026-01-02T15:04:05Z")
	}
	*v.p = v.now().Add(-d.Std())
	return nil
}

func (v *sinceValue) String() string {
	if v.p == nil || v.p.IsZero() {
		return ""
	}
	return v.p.Format(time.RFC3339)
}

func (v *sinceValue) Type() string { return "time" }

// IntRangeVar defines an int flag that must lie in [lo, hi].
func IntRangeVar(fs *pflag.FlagSet, p *int, name, short string, lo, hi int, usage string) {
	fs.VarP(&intRange{p, lo, hi}, name, short, usage)
}

type intRange struct {
	p      *int
	lo, hi int
}

func (v *intRange) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want a whole number")
	}
	if n < v.lo || n > v.hi {
		return fmt.Errorf("must be between %d and %d", v.lo, v.hi)
	}
	*v.p = n
	return nil
}

func (v *intRange) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}

func (v *intRange) Type() string { return "int" }
