package expr

import (
	"strings"
	"testing"
)

func TestEval(t *testing.T) {
	t.Parallel()
	vars := map[string]Value{"Param.N": IntValue(3), "Param.B": BoolValue(true),
		"Param.Items": ListValue([]Value{StringValue("a"), StringValue("b")}), "Param.F": PathValue("/x/y.tar.gz")}
	env := &Env{Lookup: func(n string) (Value, bool) { v, ok := vars[n]; return v, ok }}
	cases := map[string]string{
		"2 + 3 * 4": "14", "-2 ** 2": "-4", "2 ** 3 ** 2": "512", "100 // 10 // 5": "2",
		"not 1 == 2": "true", "true or false and false": "true", "1 if Param.B else null": "1",
		"7 // -2": "-4", "7 % -2": "-1", "1 / 4": "0.25", "0.1 + 0.2": "0.30000000000000004",
		"Param.Items.join(',')": "a,b", "[x.upper() for x in Param.Items]": `["A", "B"]`,
		"Param.F.stem": "y.tar", "Param.F.suffixes": `[".tar", ".gz"]`, "[1, 2.5]": "[1.0, 2.5]",
		"'abc'[::-1]": "cba", "[1,2,3,4][1:3]": "[2, 3]", "null or 'x'": "x", "1 < 2 < 3": "true",
		"0x1F + 0o7 + 0b1": "39", "1e16": "1e16", "float(10**16)": "1e+16", "r'\\d'": `\d`,
		"len(Param.Items) == Param.N - 1": "true", "'%s' in 'a%sb'": "true", "zfill(-1, 3)": "-01",
		"repr_sh(['echo', 'a b'])": "echo 'a b'", "path('/a/b') / 'c'": "/a/b/c",
		"Param.F.parent.name": "x", "sum([1, 2.5])": "3.5", "round(2.5)": "2", "round(3.5, 2)": "3.50",
	}
	for src, want := range cases {
		e, err := Parse(src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		v, err := e.Eval(env)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if got := v.Format(); got != want {
			t.Errorf("%s = %s, want %s", src, got, want)
		}
	}
	for _, bad := range []string{"1 +", "(1", "007", "1 if true", "'a' * -1 * 'b'", "[1, 'a']", "not 1",
		"9223372036854775807 + 1", "1 / 0", "'a' * 1000000000000", "[x for x in range(100000000)]", "Param.Nope",
		strings.Repeat("(", 500) + "1" + strings.Repeat(")", 500)} {
		e, err := Parse(bad)
		if err == nil {
			_, err = e.Eval(env)
		}
		if err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func FuzzExprParse(f *testing.F) {
	for _, s := range []string{"1 + 2", "Param.X.upper()", "[x for x in Param.L if x > 1]", "f([[y for y in x] for x in z])", "'a\\x41'[1:]", "a if b else c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err == nil {
			e.References(func(string) {})
			e.LoopVars(func(v string) {
				if !IsUserIdent(v) {
					t.Fatalf("%q: loop variable %q is not a user identifier", s, v)
				}
			})
		}
	})
}

func FuzzExprEval(f *testing.F) {
	for _, s := range []string{"2 ** 62 * 2", "'ab' * 3", "range(10)[::-3]", "sorted([3, 1.5, 2])", "re_findall('a1b22', '\\\\d+')",
		"path('/a/b.c').with_suffix('.d').parts", "[[1], [2.0]]", "min(1, 2.5, 0)", "'x'.center(9)", "int('12') // -5"} {
		f.Add(s)
	}
	env := &Env{Lookup: func(n string) (Value, bool) { return IntValue(7), n == "Param.N" }, Limits: Limits{MaxOps: 100000, MaxBytes: 1 << 20}}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			return
		}
		if v, err := e.Eval(env); err == nil {
			_ = v.Format()
		}
		// The template-time checker walks the same trees with some names
		// unknown.
		_ = e.Check(CheckEnv{Sample: func(n string) (Value, bool) { return IntValue(1), n == "Param.M" },
			Known: func(n string) (Value, bool) { return IntValue(7), n == "Param.N" }})
	})
}

func TestStringEscapeNames(t *testing.T) {
	t.Parallel()
	for src, want := range map[string]string{
		`"\N{LATIN SMALL LETTER Z}"`:       "z",
		`"\N{latin small letter a}b"`:      "ab",
		`"\N{CJK UNIFIED IDEOGRAPH-4E00}"`: "\u4e00",
		`"\N{HANGUL SYLLABLE GAG}"`:        "\uac01",
		`"\N{EM DASH}"`:                    "\u2014",
		`r"\N{EM DASH}"`:                   `\N{EM DASH}`,
	} {
		e, err := Parse(src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		v, err := e.Eval(nil)
		if err != nil || v.Format() != want {
			t.Errorf("%s = %q, %v; want %q", src, v.Format(), err, want)
		}
	}
	for _, bad := range []string{`"\N{NO SUCH CHARACTER}"`, `"\N{}"`, `"\NA"`, `"\N{LATIN"`} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
