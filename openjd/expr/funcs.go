package expr

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// args gives typed access to a call's arguments. In a method call the
// receiver (argument 0) is never coerced (RFC 0005, method call coercion
// restriction).
type args struct {
	v      []Value
	method bool
}

func (a args) isStr(i int) bool {
	k := a.v[i].kind
	return k == KString || k == KPath && !(a.method && i == 0)
}

func (a args) isNum(i int) bool { return isNum(a.v[i]) }

func (a args) sig(kinds ...Kind) bool {
	if len(a.v) != len(kinds) {
		return false
	}
	for i, k := range kinds {
		switch {
		case k == KString && a.isStr(i):
		case k == KFloat && a.isNum(i):
		case a.v[i].kind != k:
			return false
		}
	}
	return true
}

var errArgs = fmt.Errorf("no version takes these arguments")

// errNoVersion says that no overload of the function takes the argument
// types; call words it with the types.
var errNoVersion = errors.New("no version")

// builtin is one function of the library (RFC 0006): it gets the
// function's name (one builtin serves several names) and the arguments,
// and returns errNoVersion when no overload takes them.
type builtin func(ev *evaluator, name string, a args) (Value, error)

// builtins is the function library by name, filled in init because some
// functions call back into the evaluator.
var builtins map[string]builtin

func init() {
	builtins = map[string]builtin{
		"len": fnLen, "bool": fnBool, "string": fnString, "str": fnString,
		"int": fnInt, "float": fnFloat, "list": fnList, "range_expr": fnRangeExpr,
		"path": fnPath, "fail": fnFail, "abs": fnAbs,
		"min": fnAggregate, "max": fnAggregate, "sum": fnAggregate,
		"floor": fnRounding, "ceil": fnRounding, "round": fnRounding,
		"range": fnRange, "flatten": fnFlatten,
		"sorted": fnListOrder, "reversed": fnListOrder, "unique": fnListOrder,
		"any": fnAnyAll, "all": fnAnyAll,
		"strip": fnStrip, "lstrip": fnStrip, "rstrip": fnStrip,
		"replace": fnReplace, "split": fnSplit, "rsplit": fnSplit, "join": fnJoin,
		"ljust": fnPad, "rjust": fnPad, "center": fnPad, "zfill": fnPad,
		"re_match": fnRegex, "re_search": fnRegex, "re_findall": fnRegex,
		"re_sub": fnRegex, "re_split": fnRegex,
		"repr_sh": fnReprSh, "repr_json": fnReprJSON, "repr_py": fnReprPy,
		"repr_pwsh": fnReprPwsh, "repr_cmd": fnReprCmd,
		"with_name": fnWithName, "with_stem": fnWithName, "with_suffix": fnWithName,
		"with_number": fnWithNumber, "as_posix": fnAsPosix, "is_absolute": fnIsAbsolute,
		"is_relative_to": fnRelativeTo, "relative_to": fnRelativeTo,
		"apply_path_mapping": fnApplyPathMapping,
		"isupper":            fnCase, "islower": fnCase,
	}
	for _, n := range []string{"removeprefix", "removesuffix", "startswith", "endswith", "count", "find", "rfind", "index", "rindex"} {
		builtins[n] = fnStr2
	}
	for n, f := range strFuncs {
		builtins[n] = func(_ *evaluator, _ string, a args) (Value, error) {
			if !a.sig(KString) {
				return Null, errNoVersion
			}
			return StringValue(f(a.v[0].s)), nil
		}
	}
	for n, f := range strPreds {
		builtins[n] = func(_ *evaluator, _ string, a args) (Value, error) {
			if !a.sig(KString) {
				return Null, errNoVersion
			}
			s := a.v[0].s
			return BoolValue(s != "" && strings.IndexFunc(s, func(r rune) bool { return !f(r) }) < 0), nil
		}
	}
}

// IsFunction reports whether name is a function of the library.
func IsFunction(name string) bool {
	_, ok := builtins[name]
	return ok
}

func (ev *evaluator) call(name string, v []Value, method bool) (Value, error) {
	f, ok := builtins[name]
	if !ok {
		return Null, fmt.Errorf("unknown function")
	}
	// len is a lookup: it neither reads a string's text nor walks a list
	// (RFC 0005, operation counting).
	for _, x := range v {
		if name == "len" {
			break
		}
		if x.kind == KString || x.kind == KPath {
			if err := ev.strWork(len(x.s)); err != nil {
				return Null, err
			}
		}
		if x.kind == KList {
			if err := ev.work(int64(len(x.l))); err != nil {
				return Null, err
			}
		}
	}
	res, err := f(ev, name, args{v: v, method: method})
	if err != errNoVersion {
		return res, err
	}
	types := make([]string, len(v))
	for i, x := range v {
		types[i] = x.Type()
	}
	return Null, fmt.Errorf("no version takes (%s)", strings.Join(types, ", "))
}

func fnLen(_ *evaluator, _ string, a args) (Value, error) {
	if len(a.v) == 1 {
		switch x := a.v[0]; x.kind {
		case KString, KPath:
			return IntValue(int64(len([]rune(x.s)))), nil
		case KList:
			return IntValue(int64(len(x.l))), nil
		case KRange:
			return IntValue(x.r.Len()), nil
		}
	}
	return Null, errNoVersion
}

func fnBool(_ *evaluator, _ string, a args) (Value, error) {
	if len(a.v) != 1 {
		return Null, errNoVersion
	}
	switch x := a.v[0]; x.kind {
	case KBool:
		return x, nil
	case KNull:
		return BoolValue(false), nil
	case KInt:
		return BoolValue(x.i != 0), nil
	case KFloat:
		return BoolValue(x.f != 0), nil
	case KString:
		if b, ok := parseBool(strings.TrimSpace(x.s)); ok {
			return BoolValue(b), nil
		}
		return Null, fmt.Errorf("cannot convert %q to bool", x.s)
	default:
		return Null, fmt.Errorf("cannot convert %s to bool", x.Type())
	}
}

func fnString(_ *evaluator, _ string, a args) (Value, error) {
	if len(a.v) != 1 {
		return Null, errNoVersion
	}
	return StringValue(a.v[0].String()), nil
}

func fnInt(_ *evaluator, _ string, a args) (Value, error) {
	if len(a.v) != 1 {
		return Null, errNoVersion
	}
	return toInt(a.v[0])
}

func fnFloat(_ *evaluator, _ string, a args) (Value, error) {
	if len(a.v) != 1 {
		return Null, errNoVersion
	}
	return toFloat(a.v[0])
}

func fnList(ev *evaluator, _ string, a args) (Value, error) {
	v := a.v
	if len(v) != 1 || v[0].kind != KRange && v[0].kind != KList {
		return Null, errNoVersion
	}
	if err := ev.work(int64(len(v[0].l))); err != nil {
		return Null, err
	}
	if v[0].kind == KRange {
		if err := ev.alloc(16 * v[0].r.Len()); err != nil {
			return Null, err
		}
	}
	return ListValue(v[0].Items()), nil
}

func fnRangeExpr(_ *evaluator, _ string, a args) (Value, error) {
	v := a.v
	if a.sig(KString) {
		r, err := parseRange(v[0].s)
		if err != nil {
			return Null, err
		}
		return RangeValue(r), nil
	}
	if len(v) != 1 || v[0].kind != KList {
		return Null, errNoVersion
	}
	vals := make([]int64, len(v[0].l))
	for i, x := range v[0].l {
		if x.kind != KInt {
			return Null, errArgs
		}
		vals[i] = x.i
	}
	if len(vals) == 0 {
		return Null, fmt.Errorf("a range expression needs at least one value")
	}
	return rangeOf(vals)
}

// rangeOf makes a range_expr of a set of integers: sorted, without
// duplicates, grouped into runs from the smallest value up, each run
// taking the step between its first two values (so [1, 3, 5, 6] is
// "1-5:2,6").
func rangeOf(vals []int64) (Value, error) {
	vals = slices.Clone(vals)
	slices.Sort(vals)
	vals = slices.Compact(vals)
	var parts []string
	for i := 0; i < len(vals); {
		j := i + 1
		if j < len(vals) && vals[j]-vals[i] > 0 { // not when the step overflows
			step := vals[j] - vals[i]
			for j+1 < len(vals) && vals[j+1]-vals[j] == step {
				j++
			}
			j++
		}
		switch n := j - i; {
		case n == 1:
			parts = append(parts, strconv.FormatInt(vals[i], 10))
		default:
			parts = append(parts, fmt.Sprintf("%d-%d:%d", vals[i], vals[j-1], vals[i+1]-vals[i]))
		}
		i = j
	}
	r, err := parseRange(strings.Join(parts, ","))
	if err != nil {
		return Null, err
	}
	return RangeValue(r), nil
}

func fnPath(_ *evaluator, _ string, a args) (Value, error) {
	v := a.v
	if a.sig(KString) {
		return PathValue(cleanPath(v[0].s)), nil
	}
	if len(v) != 1 || v[0].kind != KList {
		return Null, errNoVersion
	}
	p, uri := "", false
	for _, x := range v[0].l {
		if x.kind != KString {
			return Null, errArgs
		}
		switch {
		case uriRe.MatchString(x.s):
			p, uri = strings.TrimSuffix(x.s, "/"), true
		case uri && !strings.HasPrefix(x.s, "/"):
			// A URI's parts are opaque: empty ones are kept, so that
			// path(p.parts) is p.
			p += "/" + x.s
		default:
			p, uri = joinPath(p, x.s), false
		}
	}
	if uriRe.MatchString(p) {
		return PathValue(p), nil
	}
	return PathValue(cleanPath(p)), nil
}

func fnFail(_ *evaluator, _ string, a args) (Value, error) {
	if !a.sig(KString) {
		return Null, errNoVersion
	}
	return Null, fmt.Errorf("%s", a.v[0].s)
}

func fnAbs(_ *evaluator, _ string, a args) (Value, error) {
	if len(a.v) == 1 && a.v[0].kind == KInt {
		if a.v[0].i >= 0 {
			return a.v[0], nil
		}
		return unary("-", a.v[0]) // overflows for the smallest int64
	}
	if len(a.v) == 1 && a.v[0].kind == KFloat {
		return FloatValue(math.Abs(a.v[0].f)), nil
	}
	return Null, errNoVersion
}

func fnAggregate(ev *evaluator, name string, a args) (Value, error) { return ev.aggregate(name, a.v) }

func fnRounding(_ *evaluator, name string, a args) (Value, error) { return rounding(name, a.v) }

func fnRange(ev *evaluator, _ string, a args) (Value, error) { return ev.rangeFn(a.v) }

func fnFlatten(ev *evaluator, _ string, a args) (Value, error) {
	if len(a.v) != 1 || a.v[0].kind != KList {
		return Null, errNoVersion
	}
	var out []Value
	for _, x := range a.v[0].l {
		if x.kind == KList {
			out = append(out, x.l...)
		} else {
			out = append(out, x)
		}
	}
	return ev.list(out)
}

func fnListOrder(_ *evaluator, name string, a args) (Value, error) {
	v := a.v
	if len(v) != 1 || v[0].kind != KList && v[0].kind != KRange {
		return Null, errNoVersion
	}
	items := slices.Clone(v[0].Items())
	switch name {
	case "reversed":
		slices.Reverse(items)
	case "unique":
		var out []Value
		for _, x := range items {
			if !slices.ContainsFunc(out, func(y Value) bool { return equal(x, y) }) {
				out = append(out, x)
			}
		}
		items = out
	default:
		var err error
		slices.SortStableFunc(items, func(x, y Value) int {
			c, e := order(x, y)
			if e != nil {
				err = e
			}
			return c
		})
		if err != nil {
			return Null, err
		}
	}
	return ListValue(items), nil
}

func fnAnyAll(_ *evaluator, name string, a args) (Value, error) {
	if len(a.v) != 1 || a.v[0].kind != KList {
		return Null, errNoVersion
	}
	res := name == "all"
	for _, x := range a.v[0].l {
		if x.kind != KBool {
			return Null, errArgs
		}
		if x.b != res {
			return BoolValue(!res), nil
		}
	}
	return BoolValue(res), nil
}

func fnStrip(_ *evaluator, name string, a args) (Value, error) {
	if !a.sig(KString) && !a.sig(KString, KString) {
		return Null, errNoVersion
	}
	trim := map[string]func(string, string) string{"strip": strings.Trim, "lstrip": strings.TrimLeft, "rstrip": strings.TrimRight}[name]
	cut := " \t\n\r\v\f"
	if len(a.v) == 2 {
		cut = a.v[1].s
	}
	return StringValue(trim(a.v[0].s, cut)), nil
}

func fnStr2(_ *evaluator, name string, a args) (Value, error) {
	if !a.sig(KString, KString) {
		return Null, errNoVersion
	}
	return strFunc2(name, a.v[0].s, a.v[1].s)
}

func fnReplace(ev *evaluator, _ string, a args) (Value, error) {
	if !a.sig(KString, KString, KString) {
		return Null, errNoVersion
	}
	v := a.v
	if v[1].s == "" {
		return Null, fmt.Errorf("the old string must not be empty")
	}
	n := strings.Count(v[0].s, v[1].s)
	if err := ev.alloc(int64(len(v[0].s) + n*len(v[2].s))); err != nil {
		return Null, err
	}
	return StringValue(strings.ReplaceAll(v[0].s, v[1].s, v[2].s)), nil
}

func fnSplit(ev *evaluator, name string, a args) (Value, error) { return ev.split(name, a) }

func fnJoin(_ *evaluator, _ string, a args) (Value, error) {
	v := a.v
	if len(v) != 2 || v[0].kind != KList || !a.isStr(1) {
		return Null, errNoVersion
	}
	parts := make([]string, len(v[0].l))
	for i, x := range v[0].l {
		if x.kind != KString && x.kind != KPath {
			return Null, fmt.Errorf("join needs a list of strings, not %s", v[0].Type())
		}
		parts[i] = x.s
	}
	return StringValue(strings.Join(parts, v[1].s)), nil
}

func fnPad(ev *evaluator, name string, a args) (Value, error) {
	v := a.v
	if len(v) != 2 || v[1].kind != KInt || !a.isStr(0) && !(name == "zfill" && a.isNum(0)) {
		return Null, errNoVersion
	}
	return ev.pad(name, v[0], v[1].i)
}

func fnRegex(ev *evaluator, name string, a args) (Value, error) { return ev.regex(name, a) }

func fnReprSh(_ *evaluator, _ string, a args) (Value, error) { return reprShell(a.v) }

func fnReprJSON(_ *evaluator, _ string, a args) (Value, error) {
	if len(a.v) != 1 {
		return Null, errNoVersion
	}
	var b strings.Builder
	writeJSON(&b, a.v[0])
	return StringValue(b.String()), nil
}

func fnReprPy(_ *evaluator, _ string, a args) (Value, error) {
	if len(a.v) != 1 {
		return Null, errNoVersion
	}
	return StringValue(reprPy(a.v[0])), nil
}

func fnReprPwsh(_ *evaluator, _ string, a args) (Value, error) {
	if len(a.v) != 1 {
		return Null, errNoVersion
	}
	return StringValue(reprPwsh(a.v[0])), nil
}

func fnReprCmd(_ *evaluator, _ string, a args) (Value, error) { return reprCmd(a) }

func fnWithName(_ *evaluator, name string, a args) (Value, error) {
	v := a.v
	if len(v) != 2 || v[0].kind != KPath || !a.isStr(1) {
		return Null, errNoVersion
	}
	dir, name0 := "", v[0].s
	if i := strings.LastIndex(name0, "/"); i >= 0 {
		dir, name0 = name0[:i+1], name0[i+1:]
	}
	switch name {
	case "with_name":
		name0 = v[1].s
	case "with_stem":
		name0 = v[1].s + pathSuffix(name0)
	default:
		name0 = pathStem(name0) + v[1].s
	}
	return PathValue(dir + name0), nil
}

func fnWithNumber(_ *evaluator, _ string, a args) (Value, error) {
	v := a.v
	if len(v) != 2 || v[0].kind != KPath && !a.isStr(0) || v[1].kind != KInt {
		return Null, errNoVersion
	}
	s, err := withNumber(v[0].s, v[1].i)
	return Value{kind: v[0].kind, s: s}, err
}

func fnAsPosix(_ *evaluator, _ string, a args) (Value, error) {
	if len(a.v) != 1 || a.v[0].kind != KPath {
		return Null, errNoVersion
	}
	return StringValue(a.v[0].s), nil
}

func fnIsAbsolute(_ *evaluator, _ string, a args) (Value, error) {
	if len(a.v) != 1 || a.v[0].kind != KPath {
		return Null, errNoVersion
	}
	return BoolValue(strings.HasPrefix(a.v[0].s, "/") || uriRe.MatchString(a.v[0].s)), nil
}

func fnRelativeTo(_ *evaluator, name string, a args) (Value, error) {
	v := a.v
	if len(v) != 2 || v[0].kind != KPath || v[1].kind != KPath && v[1].kind != KString {
		return Null, errNoVersion
	}
	ra, pa := splitPath(v[0].s)
	rb, pb := splitPath(v[1].s)
	ok := ra == rb && len(pb) <= len(pa) && slices.Equal(pa[:len(pb)], pb)
	if name == "is_relative_to" {
		return BoolValue(ok), nil
	}
	if !ok {
		return Null, fmt.Errorf("%q is not relative to %q", v[0].s, v[1].s)
	}
	return PathValue(buildPath("", pa[len(pb):])), nil
}

func fnApplyPathMapping(ev *evaluator, _ string, a args) (Value, error) {
	if !a.sig(KString) {
		return Null, errNoVersion
	}
	if ev.env.MapPath == nil {
		return Null, fmt.Errorf("path mapping is only available on the worker host")
	}
	return PathValue(ev.env.MapPath(a.v[0].s)), nil
}

var strFuncs = map[string]func(string) string{
	"upper": strings.ToUpper, "lower": strings.ToLower,
	"capitalize": func(s string) string {
		r := []rune(strings.ToLower(s))
		if len(r) > 0 {
			r[0] = unicode.ToUpper(r[0])
		}
		return string(r)
	},
	"title": func(s string) string {
		r := []rune(s)
		prev := false
		for i, c := range r {
			if prev {
				r[i] = unicode.ToLower(c)
			} else {
				r[i] = unicode.ToTitle(c)
			}
			prev = unicode.IsLetter(c)
		}
		return string(r)
	},
	"re_escape": regexp.QuoteMeta,
}

var strPreds = map[string]func(rune) bool{
	"isdigit": isDigitRune, "isalpha": unicode.IsLetter,
	"isalnum": func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) },
	"isspace": func(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f },
	"isascii": func(r rune) bool { return r < 128 },
}

// digitNo holds the characters of category No that Python's isdigit
// accepts (Numeric_Type Digit): superscripts, subscripts, circled and
// parenthesized digits.
var digitNo = &unicode.RangeTable{R16: []unicode.Range16{
	{0x00b2, 0x00b3, 1}, {0x00b9, 0x00b9, 1}, {0x1369, 0x1371, 1}, {0x19da, 0x19da, 1},
	{0x2070, 0x2070, 1}, {0x2074, 0x2079, 1}, {0x2080, 0x2089, 1}, {0x2460, 0x2468, 1},
	{0x2474, 0x247c, 1}, {0x2488, 0x2490, 1}, {0x24ea, 0x24ea, 1}, {0x24f5, 0x24fd, 1},
	{0x24ff, 0x24ff, 1}, {0x2776, 0x277e, 1}, {0x2780, 0x2788, 1}, {0x278a, 0x2792, 1},
}}

func isDigitRune(r rune) bool { return unicode.IsDigit(r) || unicode.Is(digitNo, r) }

// Python's cased characters: the Uppercase and Lowercase properties and
// the titlecase letters.
func isUpperRune(r rune) bool { return unicode.IsUpper(r) || unicode.Is(unicode.Other_Uppercase, r) }
func isLowerRune(r rune) bool { return unicode.IsLower(r) || unicode.Is(unicode.Other_Lowercase, r) }

// fnCase is isupper and islower: every cased character of that case, and
// at least one; a titlecase letter is cased but of neither case.
func fnCase(_ *evaluator, name string, a args) (Value, error) {
	if !a.sig(KString) {
		return Null, errNoVersion
	}
	want, other := isUpperRune, isLowerRune
	if name == "islower" {
		want, other = isLowerRune, isUpperRune
	}
	cased := false
	for _, r := range a.v[0].s {
		if other(r) || unicode.IsTitle(r) {
			return BoolValue(false), nil
		}
		cased = cased || want(r)
	}
	return BoolValue(cased), nil
}

func strFunc2(name, s, t string) (Value, error) {
	switch name {
	case "removeprefix":
		return StringValue(strings.TrimPrefix(s, t)), nil
	case "removesuffix":
		return StringValue(strings.TrimSuffix(s, t)), nil
	case "startswith":
		return BoolValue(strings.HasPrefix(s, t)), nil
	case "endswith":
		return BoolValue(strings.HasSuffix(s, t)), nil
	}
	if t == "" {
		return Null, fmt.Errorf("the substring must not be empty")
	}
	runeIdx := func(i int) int64 {
		if i < 0 {
			return -1
		}
		return int64(len([]rune(s[:i])))
	}
	switch name {
	case "count":
		return IntValue(int64(strings.Count(s, t))), nil
	case "find":
		return IntValue(runeIdx(strings.Index(s, t))), nil
	case "rfind":
		return IntValue(runeIdx(strings.LastIndex(s, t))), nil
	}
	i := strings.Index(s, t)
	if name == "rindex" {
		i = strings.LastIndex(s, t)
	}
	if i < 0 {
		return Null, fmt.Errorf("substring %q not found", t)
	}
	return IntValue(runeIdx(i)), nil
}

func toInt(x Value) (Value, error) {
	switch x.kind {
	case KInt:
		return x, nil
	case KFloat:
		if x.f != math.Trunc(x.f) || x.f >= 9.223372036854775807e18 || x.f < -9.223372036854775808e18 {
			return Null, fmt.Errorf("%s is not an integer; use floor, ceil or round", x.String())
		}
		return IntValue(int64(x.f)), nil
	case KString:
		i, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(x.s), "_", ""), 10, 64)
		if err != nil {
			return Null, fmt.Errorf("cannot convert %q to int", x.s)
		}
		return IntValue(i), nil
	}
	return Null, fmt.Errorf("cannot convert %s to int", x.Type())
}

func toFloat(x Value) (Value, error) {
	switch x.kind {
	case KInt:
		return FloatValue(float64(x.i)), nil
	case KFloat:
		return x, nil
	case KString:
		s := strings.TrimSpace(x.s)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return Null, fmt.Errorf("cannot convert %q to float", x.s)
		}
		return FloatValue(f), nil
	}
	return Null, fmt.Errorf("cannot convert %s to float", x.Type())
}

func (ev *evaluator) aggregate(name string, v []Value) (Value, error) {
	items := v
	if len(v) == 1 {
		if v[0].kind != KList && v[0].kind != KRange {
			return Null, errArgs
		}
		if v[0].kind == KRange {
			if err := ev.work(v[0].r.Len()); err != nil {
				return Null, err
			}
		}
		items = v[0].Items()
	} else if name == "sum" || len(v) > 3 || len(v) == 0 {
		return Null, errArgs
	}
	if len(items) == 0 {
		if name == "sum" {
			return IntValue(0), nil
		}
		return Null, fmt.Errorf("%s() requires a non-empty list", name)
	}
	acc := items[0]
	for _, x := range items {
		if !isNum(x) {
			return Null, fmt.Errorf("%s() needs numbers, not %s", name, x.Type())
		}
	}
	for _, x := range items[1:] {
		var err error
		switch name {
		case "sum":
			acc, err = ev.binary("+", acc, x)
		case "min":
			if c, _ := order(x, acc); c < 0 {
				acc = x
			}
		case "max":
			if c, _ := order(x, acc); c > 0 {
				acc = x
			}
		}
		if err != nil {
			return Null, err
		}
	}
	if name != "sum" && slices.ContainsFunc(items, func(x Value) bool { return x.kind == KFloat }) && acc.kind == KInt {
		acc = FloatValue(float64(acc.i))
	}
	return acc, nil
}

func rounding(name string, v []Value) (Value, error) {
	if len(v) == 0 || len(v) > 2 || !isNum(v[0]) || name != "round" && len(v) != 1 {
		return Null, errArgs
	}
	if len(v) == 2 {
		if v[1].kind != KInt {
			return Null, errArgs
		}
		nd := v[1].i
		if nd > 0 && v[0].kind == KFloat {
			if nd > 17 {
				nd = 17
			}
			s := strconv.FormatFloat(v[0].f, 'f', int(nd), 64)
			f, _ := strconv.ParseFloat(s, 64)
			return Value{kind: KFloat, f: normZero(f), s: s}, nil
		}
		if nd >= 0 {
			return toInt(FloatValue(math.RoundToEven(v[0].Float())))
		}
		p := math.Pow(10, float64(-nd))
		return toInt(FloatValue(math.RoundToEven(v[0].Float()/p) * p))
	}
	if v[0].kind == KInt {
		return v[0], nil
	}
	f := map[string]func(float64) float64{"floor": math.Floor, "ceil": math.Ceil, "round": math.RoundToEven}[name](v[0].f)
	return toInt(FloatValue(f))
}

func (ev *evaluator) rangeFn(v []Value) (Value, error) {
	if len(v) == 0 || len(v) > 3 {
		return Null, errArgs
	}
	n := []int64{0, 0, 1}
	for i, x := range v {
		if x.kind != KInt {
			return Null, errArgs
		}
		n[i] = x.i
	}
	start, stop, step := n[0], n[1], n[2]
	if len(v) == 1 {
		start, stop = 0, n[0]
	}
	if step == 0 {
		return Null, fmt.Errorf("range() step must not be zero")
	}
	var count float64
	if step > 0 && stop > start {
		count = math.Ceil((float64(stop) - float64(start)) / float64(step))
	} else if step < 0 && stop < start {
		count = math.Ceil((float64(start) - float64(stop)) / float64(-step))
	}
	if err := ev.work(int64(count)); err != nil {
		return Null, err
	}
	if err := ev.alloc(16 * int64(count)); err != nil {
		return Null, err
	}
	out := make([]Value, 0, int(count))
	for i := start; step > 0 && i < stop || step < 0 && i > stop; i += step {
		out = append(out, IntValue(i))
		if step > 0 && i > math.MaxInt64-step || step < 0 && i < math.MinInt64-step {
			break
		}
	}
	return ListValue(out), nil
}

func (ev *evaluator) split(name string, a args) (Value, error) {
	v := a.v
	if len(v) == 0 || len(v) > 3 || !a.isStr(0) {
		return Null, errArgs
	}
	max := -1
	if len(v) == 3 {
		if v[2].kind != KInt {
			return Null, errArgs
		}
		max = int(min(v[2].i, math.MaxInt32))
	}
	var parts []string
	if len(v) == 1 {
		parts = strings.Fields(v[0].s)
	} else {
		if !a.isStr(1) {
			return Null, errArgs
		}
		sep := v[1].s
		if sep == "" {
			return Null, fmt.Errorf("the separator must not be empty")
		}
		switch {
		case max < 0:
			parts = strings.Split(v[0].s, sep)
		case name == "split":
			parts = strings.SplitN(v[0].s, sep, max+1)
		default:
			all := strings.Split(v[0].s, sep)
			if len(all) > max+1 {
				all = append([]string{strings.Join(all[:len(all)-max], sep)}, all[len(all)-max:]...)
			}
			parts = all
		}
	}
	if err := ev.alloc(int64(16*len(parts) + len(v[0].s))); err != nil {
		return Null, err
	}
	out := make([]Value, len(parts))
	for i, p := range parts {
		out[i] = StringValue(p)
	}
	return ListValue(out), nil
}

func (ev *evaluator) pad(name string, x Value, width int64) (Value, error) {
	s := x.String()
	n := int64(len([]rune(s)))
	if width <= n {
		return StringValue(s), nil
	}
	if err := ev.alloc(width); err != nil {
		return Null, err
	}
	fill := int(width - n)
	switch name {
	case "ljust":
		return StringValue(s + strings.Repeat(" ", fill)), nil
	case "rjust":
		return StringValue(strings.Repeat(" ", fill) + s), nil
	case "center":
		// Python puts the extra space on the right when the string length
		// and fill are both odd or both even... it uses left = fill/2 +
		// (fill & len & 1).
		left := fill/2 + (fill & int(n) & 1)
		return StringValue(strings.Repeat(" ", left) + s + strings.Repeat(" ", fill-left)), nil
	}
	sign := ""
	if strings.HasPrefix(s, "-") || strings.HasPrefix(s, "+") {
		sign, s = s[:1], s[1:]
	}
	return StringValue(sign + strings.Repeat("0", fill) + s), nil
}

func (ev *evaluator) regex(name string, a args) (Value, error) {
	v := a.v
	if name == "re_escape" {
		if a.sig(KString) {
			return StringValue(regexp.QuoteMeta(v[0].s)), nil
		}
		return Null, errArgs
	}
	if len(v) < 2 || !a.isStr(0) || !a.isStr(1) {
		return Null, errArgs
	}
	pat := v[1].s
	if name == "re_match" && pat != "" {
		pat = `\A(?:` + pat + `)`
	}
	re, err := compileRegex(pat)
	if err != nil {
		return Null, err
	}
	s := v[0].s
	strs := func(ss []string) Value {
		out := make([]Value, len(ss))
		for i, x := range ss {
			out[i] = StringValue(x)
		}
		return ListValue(out)
	}
	switch name {
	case "re_match", "re_search":
		if len(v) != 2 {
			return Null, errArgs
		}
		m := re.FindStringSubmatch(s)
		if m == nil {
			return Null, nil
		}
		return strs(m), nil
	case "re_findall":
		all := re.FindAllStringSubmatch(s, -1)
		out := []Value{}
		for _, m := range all {
			switch len(m) {
			case 1:
				out = append(out, StringValue(m[0]))
			case 2:
				out = append(out, StringValue(m[1]))
			default:
				out = append(out, strs(m[1:]))
			}
		}
		return ListValue(out), nil
	case "re_sub":
		if len(v) != 3 || !a.isStr(2) {
			return Null, errArgs
		}
		if err := checkReplacement(v[2].s); err != nil {
			return Null, err
		}
		return StringValue(re.ReplaceAllLiteralString(s, v[2].s)), nil
	}
	n := -1
	if len(v) == 3 {
		if v[2].kind != KInt {
			return Null, errArgs
		}
		if v[2].i > 0 {
			n = int(min(v[2].i, math.MaxInt32)) + 1
		}
	}
	return strs(re.Split(s, n)), nil
}

// shellSafe matches the strings shlex.quote leaves alone.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9@%+=:,./_-]+$`)

func shQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

func reprShell(v []Value) (Value, error) {
	if len(v) != 1 {
		return Null, errArgs
	}
	switch v[0].kind {
	case KString, KPath:
		return StringValue(shQuote(v[0].s)), nil
	case KList:
		parts := make([]string, len(v[0].l))
		for i, x := range v[0].l {
			if x.kind != KString && x.kind != KPath {
				return Null, errArgs
			}
			parts[i] = shQuote(x.s)
		}
		return StringValue(strings.Join(parts, " ")), nil
	}
	return Null, errArgs
}

func reprPy(v Value) string {
	switch v.kind {
	case KNull:
		return "None"
	case KBool:
		if v.b {
			return "True"
		}
		return "False"
	case KString, KPath, KRange:
		s := v.String()
		q := "'"
		if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
			q = `"`
		}
		var b strings.Builder
		b.WriteString(q)
		for _, r := range s {
			switch {
			case r == '\\':
				b.WriteString(`\\`)
			case string(r) == q:
				b.WriteString(`\` + q)
			case r == '\n':
				b.WriteString(`\n`)
			case r == '\r':
				b.WriteString(`\r`)
			case r == '\t':
				b.WriteString(`\t`)
			case r < 0x20 || r == 0x7f:
				fmt.Fprintf(&b, `\x%02x`, r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteString(q)
		return b.String()
	case KList:
		parts := make([]string, len(v.l))
		for i, x := range v.l {
			parts[i] = reprPy(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return v.String()
}

func reprPwsh(v Value) string {
	switch v.kind {
	case KBool:
		return "$" + strconv.FormatBool(v.b)
	case KNull:
		return "$null"
	case KString, KPath, KRange:
		return "'" + strings.ReplaceAll(v.String(), "'", "''") + "'"
	case KList:
		parts := make([]string, len(v.l))
		for i, x := range v.l {
			parts[i] = reprPwsh(x)
		}
		return "@(" + strings.Join(parts, ", ") + ")"
	}
	return v.String()
}

func cmdQuote(s string) string {
	s = strings.NewReplacer("\n", "", "\r", "").Replace(s)
	if s != "" && !strings.ContainsAny(s, "&|<>^\"()%!") && !strings.ContainsFunc(s, unicode.IsSpace) {
		return s
	}
	return `"` + strings.NewReplacer(`^`, `^^`, `"`, `^"`, `%`, `%%`, `!`, `^^!`).Replace(s) + `"`
}

func reprCmd(a args) (Value, error) {
	v := a.v
	if len(v) != 1 {
		return Null, errArgs
	}
	if a.isStr(0) {
		return StringValue(cmdQuote(v[0].s)), nil
	}
	if v[0].kind == KList {
		parts := make([]string, len(v[0].l))
		for i, x := range v[0].l {
			if x.kind != KString && x.kind != KPath {
				return Null, errArgs
			}
			parts[i] = cmdQuote(x.s)
		}
		return StringValue(strings.Join(parts, " ")), nil
	}
	return Null, errArgs
}
