package job

import (
	"encoding/json"
	"strings"
	"testing"
)

// The parsers read what people type on the command line; they must never
// panic, and what they accept must survive a round trip through its
// canonical form.

func FuzzParseArray(f *testing.F) {
	for _, s := range []string{"1-100:2", "5", "1-1", "0-3", "3-1", "1-10:0", " 2 - 8 : 3 ", "1-x", "-1--5", "1-9223372036854775807", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseArray(s)
		if err != nil {
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("ParseArray(%q) = %+v, which does not validate: %v", s, a, err)
		}
		if a.Len() < 1 || a.Len() > MaxArrayTasks {
			t.Fatalf("ParseArray(%q) = %+v with %d tasks", s, a, a.Len())
		}
		b, err := ParseArray(a.String())
		if err != nil || b != a {
			t.Fatalf("ParseArray(%q) = %+v, but ParseArray(%q) = %+v, %v", s, a, a.String(), b, err)
		}
	})
}

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30s", "1h30m", "500ms", "90", "1.5", "2d", "1d12h", "d", "-1s", "1d-1s", "NaN", "Inf", "1e300", "9223372036", "106751d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		if d < 0 {
			t.Fatalf("ParseDuration(%q) = %d, negative", s, d)
		}
		e, err := ParseDuration(d.String())
		if err != nil || e != d {
			t.Fatalf("ParseDuration(%q) = %v, but ParseDuration(%q) = %v, %v", s, d, d.String(), e, err)
		}
		b, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		var j Duration
		if err := json.Unmarshal(b, &j); err != nil || j != d {
			t.Fatalf("JSON round trip of %v: %s gives %v, %v", d, b, j, err)
		}
	})
}

func FuzzParseKV(f *testing.F) {
	for _, s := range []string{"k=v", "k=", "=v", "k", "a=b=c", "", "=", "ké=ü\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, v, err := ParseKV(s)
		if err != nil {
			return
		}
		if k == "" || strings.Contains(k, "=") {
			t.Fatalf("ParseKV(%q) key %q", s, k)
		}
		if k+"="+v != s {
			t.Fatalf("ParseKV(%q) = %q, %q: does not join back", s, k, v)
		}
	})
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"7", "7.3", "7.0", "0", "-1", "7.", ".3", "7.-1", "+7.03", "9223372036854775807.2147483647", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		if r.Job <= 0 || r.Index < 0 || (!r.HasIndex && r.Index != 0) {
			t.Fatalf("ParseRef(%q) = %+v", s, r)
		}
		q, err := ParseRef(r.String())
		if err != nil || q != r {
			t.Fatalf("ParseRef(%q) = %+v, but ParseRef(%q) = %+v, %v", s, r, r.String(), q, err)
		}
	})
}

func FuzzParseState(f *testing.F) {
	for _, s := range States {
		f.Add(string(s))
	}
	f.Add("running")
	f.Add("nope")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := ParseState(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(string(st), s) {
			t.Fatalf("ParseState(%q) = %q", s, st)
		}
		if again, err := ParseState(string(st)); err != nil || again != st {
			t.Fatalf("ParseState(%q) = %q, %v", st, again, err)
		}
	})
}
