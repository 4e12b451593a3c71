package openjd

import (
	"strings"
	"testing"

	"github.com/berth-run/berth/openjd/expr"
)

// evalLib evaluates src with range_expr values from this package's
// parser, as templates see them.
func evalLib(src string) (expr.Value, error) {
	e, err := expr.Parse(src)
	if err != nil {
		return expr.Null, err
	}
	return e.Eval(&expr.Env{Lookup: func(n string) (expr.Value, bool) {
		if n == "Param.Frames" {
			r, _ := ParseIntRange("1-5")
			return expr.RangeValue(r), true
		}
		return expr.Null, false
	}})
}

// TestFunctionLibrary checks functions of RFC 0006 against the results it
// gives for them (and Python's, where it defers to Python).
func TestFunctionLibrary(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, want, typ string }{
		// abs keeps the type and the sign is dropped.
		{"abs(-3)", "3", "int"}, {"abs(3)", "3", "int"}, {"abs(0)", "0", "int"}, {"abs(-2.5)", "2.5", "float"},
		// re_sub's replacement is literal text.
		{`re_sub("frame_001", "\\d+", "002")`, "frame_002", "string"},
		{`re_sub("a.b", "\\.", "\\")`, `a\b`, "string"},
		{`re_sub("ab", "b", "$")`, "a$", "string"},
		// Anchors and classes of the common syntax; \d is Unicode.
		{`re_search("x\u0663y", "\\d")`, "[\"\u0663\"]", "list[string]"},
		{`re_match("abc", "b")`, "", "nulltype"},
		{`re_search("abc", "^a\\w+$")`, `["abc"]`, "list[string]"},
		{`re_search("a\u00e9", "\\Aa\\w")`, "[\"a\u00e9\"]", "list[string]"},
		{`re_search("A", "\\u0041")`, `["A"]`, "list[string]"},
		{`re_findall("a1 b2", "[\\d]")`, `["1", "2"]`, "list[string]"},
		{`re_findall("a_\u00e9\u203f", "\\w")`, "[\"a\", \"_\", \"\u00e9\"]", "list[string]"},
		{`re_sub("a\vb\x1fc", "\\s", "-")`, "a-b-c", "string"},
		// isupper/islower look at cased characters only.
		{`"ABC1".isupper()`, "true", "bool"}, {`"123".isupper()`, "false", "bool"},
		{`"Abc".isupper()`, "false", "bool"}, {`"\u01c5".isupper()`, "false", "bool"},
		{`"abc!".islower()`, "true", "bool"}, {`"".islower()`, "false", "bool"},
		{`"\u00aa".islower()`, "true", "bool"}, {`"\u2168".isupper()`, "true", "bool"},
		{`"\u00b2".isdigit()`, "true", "bool"}, {`"\x1f".isspace()`, "true", "bool"},
		// repr_cmd quotes what cmd.exe would split or expand.
		{`repr_cmd("hello")`, "hello", "string"}, {`repr_cmd("a & b")`, `"a & b"`, "string"},
		{`repr_cmd("a ^ b")`, `"a ^^ b"`, "string"}, {`repr_cmd("100%")`, `"100%%"`, "string"},
		{`repr_cmd('say "hi"')`, `"say ^"hi^""`, "string"}, {`repr_cmd("hello!")`, `"hello^^!"`, "string"},
		{`repr_cmd("a\nb")`, "ab", "string"}, {`repr_cmd("")`, `""`, "string"},
		{`repr_cmd("a\u3000b")`, "\"a\u3000b\"", "string"},
		{`repr_cmd(["echo", "hello & world"])`, `echo "hello & world"`, "string"},
		// path(list) ignores empty parts of file paths and keeps a URI's.
		{`path(["a", "", "b"])`, "a/b", "path"}, {`path([])`, ".", "path"}, {`path([""])`, ".", "path"},
		{`path(["/", "a"])`, "/a", "path"},
		{`path(path("s3://bucket/a//b/c").parts)`, "s3://bucket/a//b/c", "path"},
		{`path("s3://bucket/a//b/c").parts`, `["s3://bucket", "a", "", "b", "c"]`, "list[string]"},
		// range_expr canonical text: runs of the same step merge; a run of
		// two is written as two values.
		{`range_expr("1,2,3")`, "1-3", "range_expr"}, {`range_expr("1,3,5-7")`, "1,3,5-7", "range_expr"},
		{`range_expr("1-3:2")`, "1,3", "range_expr"}, {`range_expr("10-1:-3")`, "1-10:3", "range_expr"},
		{`range_expr([1, 2, 3])`, "1-3", "range_expr"}, {`range_expr([1, 3, 5])`, "1-5:2", "range_expr"},
		{`range_expr([5, 1, 2])`, "1,2,5", "range_expr"}, {`range_expr([1, 1, 2])`, "1,2", "range_expr"},
		{`range_expr([1, 2, 4, 5])`, "1,2,4,5", "range_expr"}, {`range_expr([1, 2, 3, 7, 9, 11])`, "1-3,7-11:2", "range_expr"},
		{`range_expr([-3, -2, -1])`, "-3--1", "range_expr"}, {`range_expr([7])`, "7", "range_expr"},
		// A run written descending keeps its order in the values; the text
		// is canonical.
		{`list(range_expr("10-1:-3"))`, "[10, 7, 4, 1]", "list[int]"},
		{`range_expr("10-1:-3")[0]`, "10", "int"},
		{`list(range_expr("10-1:-3,20"))`, "[10, 7, 4, 1, 20]", "list[int]"},
		{`[x for x in range_expr("3-1:-1")]`, "[3, 2, 1]", "list[int]"},
		{`list(range_expr("10-1:-1,11"))`, "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]", "list[int]"},
		{`range_expr("10-1:-1,11")`, "1-11", "range_expr"},
		{`sorted(range_expr("3-1:-1"))`, "[1, 2, 3]", "list[int]"},
		// Slicing a range_expr forward gives a range_expr, backward a list.
		{"Param.Frames[1:3]", "2,3", "range_expr"}, {"Param.Frames[::2]", "1-5:2", "range_expr"},
		{"Param.Frames[::-1]", "[5, 4, 3, 2, 1]", "list[int]"}, {"Param.Frames[3:1]", "[]", "list[nulltype]"},
		{"Param.Frames[-2:]", "4,5", "range_expr"},
	}
	for _, tt := range tests {
		v, err := evalLib(tt.src)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if v.Format() != tt.want || v.Type() != tt.typ {
			t.Errorf("%s = %s (%s), want %s (%s)", tt.src, v.Format(), v.Type(), tt.want, tt.typ)
		}
	}
}

// TestFunctionLibraryErrors checks calls RFC 0006 makes errors.
func TestFunctionLibraryErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ src, want string }{
		{`re_sub("ab", "(b)", "\\1")`, "group reference"},
		{`re_sub("ab", "(b)", "\\g<1>")`, "group reference"},
		{`re_sub("ab", "(b)", "$1")`, "group reference"},
		{`re_sub("ab", "(?P<x>b)", "${x}")`, "group reference"},
		{`re_search("ab", "b\\z")`, `\z is not supported`},
		{`re_search("ab", "b\\Z")`, `\Z is not supported`},
		{`re_search("ab", "\\x{41}")`, `\x{...} is not supported`},
		{`re_search("ab", "\\u{41}")`, `\u{...} is not supported`},
		{`re_search("ab", "(a)\\1")`, "backreferences"},
		{`re_search("ab", "a(?=b)")`, "lookaround"},
		{`re_search("ab", "\\pL")`, `\p is not supported`},
		{`re_search("ab", "")`, "must not be empty"},
		{`re_search("ab", "(")`, "bad pattern"},
		{"abs(-9223372036854775807 - 1)", "overflow"},
		{`abs("x")`, "no version takes (string)"},
		{`"a".isupper(1)`, "no version takes (string, int)"},
		{`range_expr([])`, "at least one value"},
		{`nosuch(1)`, "unknown function"},
	}
	for _, tt := range tests {
		_, err := evalLib(tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.src, err, tt.want)
		}
	}
}
