package expr

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Kind is the type of a value, without a list's element type.
type Kind uint8

// The value kinds.
const (
	KNull Kind = iota
	KBool
	KInt
	KFloat
	KString
	KPath
	KRange
	KList
)

var kindNames = [...]string{"nulltype", "bool", "int", "float", "string", "path", "range_expr", "list"}

func (k Kind) String() string { return kindNames[k] }

// Value is a typed value. The zero Value is null.
type Value struct {
	kind Kind
	b    bool
	i    int64
	f    float64
	s    string  // string and path text; a float's text as given, "" once computed
	l    []Value // list items
	r    Range
}

// Null is the null value.
var Null = Value{}

// BoolValue, IntValue, FloatValue, StringValue and PathValue make values.
func BoolValue(b bool) Value        { return Value{kind: KBool, b: b} }
func IntValue(i int64) Value        { return Value{kind: KInt, i: i} }
func FloatValue(f float64) Value    { return Value{kind: KFloat, f: normZero(f)} }
func StringValue(s string) Value    { return Value{kind: KString, s: s} }
func PathValue(s string) Value      { return Value{kind: KPath, s: s} }
func RangeValue(r Range) Value      { return Value{kind: KRange, r: r} }
func ListValue(items []Value) Value { return Value{kind: KList, l: items} }

// Kind returns the value's kind.
func (v Value) Kind() Kind { return v.kind }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.kind == KNull }

// Bool, Int, Float and Items return the value of a bool, int, float
// (or int) and list.
func (v Value) Bool() bool { return v.b }
func (v Value) Int() int64 { return v.i }
func (v Value) Float() float64 {
	if v.kind == KInt {
		return float64(v.i)
	}
	return v.f
}
func (v Value) Items() []Value {
	if v.kind == KRange {
		out := make([]Value, v.r.Len())
		for i := range out {
			out[i] = IntValue(v.r.At(int64(i)))
		}
		return out
	}
	return v.l
}

// Type describes v's type, e.g. list[int].
func (v Value) Type() string {
	if v.kind != KList {
		return v.kind.String()
	}
	return "list[" + elemType(v.l) + "]"
}

func elemType(items []Value) string {
	if len(items) == 0 {
		return "nulltype"
	}
	return items[0].Type()
}

func normZero(f float64) float64 {
	if f == 0 {
		return 0 // drops the sign of -0.0
	}
	return f
}

// floatLiteralText is the text a float literal shows as: Python's form
// for literals with underscores, the literal itself otherwise.
func floatLiteralText(s string) string {
	if strings.Contains(s, "_") {
		return ""
	}
	return s
}

// String converts v to text the way a format string shows it; null is
// "null" here, while Format shows it as "".
func (v Value) String() string {
	switch v.kind {
	case KNull:
		return "null"
	case KBool:
		return strconv.FormatBool(v.b)
	case KInt:
		return strconv.FormatInt(v.i, 10)
	case KFloat:
		if v.s != "" {
			return v.s
		}
		return formatFloat(v.f)
	case KString, KPath:
		return v.s
	case KRange:
		return v.r.String()
	}
	var b strings.Builder
	writeJSON(&b, v)
	return b.String()
}

// Format is v as interpolated into a format string: like String, but
// null is empty.
func (v Value) Format() string {
	if v.kind == KNull {
		return ""
	}
	return v.String()
}

// writeJSON writes v in JSON form, with ", " between list items as
// Python's json.dumps does.
func writeJSON(b *strings.Builder, v Value) {
	switch v.kind {
	case KNull:
		b.WriteString("null")
	case KString, KPath:
		q, _ := json.Marshal(v.s)
		b.Write(q)
	case KRange:
		q, _ := json.Marshal(v.r.String())
		b.Write(q)
	case KList:
		b.WriteByte('[')
		for i, it := range v.l {
			if i > 0 {
				b.WriteString(", ")
			}
			writeJSON(b, it)
		}
		b.WriteByte(']')
	default:
		b.WriteString(v.String())
	}
}

// formatFloat is Python's repr of a float: the shortest text that reads
// back as f, in positional form for exponents -4 to 15.
func formatFloat(f float64) string {
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exps, _ := strings.Cut(e, "e")
	exp, _ := strconv.Atoi(exps)
	if exp >= -4 && exp < 16 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.ContainsAny(s, ".") {
			s += ".0"
		}
		return s
	}
	return mant + "e" + exps[:1] + fmt.Sprintf("%02d", abs(exp))
}

func abs(i int) int {
	if i < 0 {
		return -i
	}
	return i
}

// checkFloat rejects the results the language does not have.
func checkFloat(f float64) (Value, error) {
	if math.IsNaN(f) {
		return Null, fmt.Errorf("the result is not a number")
	}
	if math.IsInf(f, 0) {
		return Null, fmt.Errorf("the result overflows a float")
	}
	return FloatValue(f), nil
}

// Parse types. ParseType accepts the names Type returns, and the
// job parameter type names (BOOL, LIST[INT], ...) in any case.
func validType(t string) bool {
	t = strings.ToLower(t)
	switch t {
	case "string", "int", "float", "bool", "path", "range_expr":
		return true
	}
	if in, ok := strings.CutPrefix(t, "list["); ok && strings.HasSuffix(in, "]") {
		in = in[:len(in)-1]
		if inner, ok := strings.CutPrefix(in, "list["); ok {
			return strings.HasSuffix(inner, "]") && validScalarType(inner[:len(inner)-1])
		}
		return validScalarType(in)
	}
	return false
}

func validScalarType(t string) bool {
	switch t {
	case "string", "int", "float", "bool", "path":
		return true
	}
	return false
}

// FromText makes a value of type typ (a name such as "int", "path",
// "list[int]", or a job parameter type such as LIST[PATH]) from its text
// form: lists as JSON arrays, bools as true/false (and the other spellings
// bool() accepts). An empty or unknown type means string.
func FromText(typ, s string) (Value, error) {
	typ = strings.ToLower(typ)
	switch typ {
	case "", "string", "any":
		return StringValue(s), nil
	case "path":
		return PathValue(s), nil
	case "int":
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return Null, fmt.Errorf("%q is not a 64-bit integer", s)
		}
		return IntValue(i), nil
	case "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return Null, fmt.Errorf("%q is not a number", s)
		}
		return Value{kind: KFloat, f: normZero(f), s: strings.TrimSpace(s)}, nil
	case "bool":
		b, ok := parseBool(s)
		if !ok {
			return Null, fmt.Errorf("%q is not a boolean", s)
		}
		return BoolValue(b), nil
	case "range_expr":
		r, err := parseRange(s)
		if err != nil {
			return Null, err
		}
		return RangeValue(r), nil
	}
	if !validType(typ) {
		return StringValue(s), nil
	}
	elem := typ[len("list[") : len(typ)-1]
	var raw []json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return Null, fmt.Errorf("%q is not a %s list: %v", s, elem, err)
	}
	items := make([]Value, 0, len(raw))
	for _, r := range raw {
		var it Value
		var err error
		switch {
		case strings.HasPrefix(elem, "list["):
			it, err = FromText(elem, string(r))
		case elem == "string" || elem == "path":
			var str string
			if err = json.Unmarshal(r, &str); err == nil {
				it, err = FromText(elem, str)
			}
		default:
			it, err = FromText(elem, strings.TrimSpace(string(r)))
		}
		if err != nil {
			return Null, err
		}
		items = append(items, it)
	}
	return ListValue(items), nil
}

// parseBool reads the spellings of bool(string): 1/true/on/yes and
// 0/false/off/no, in any case.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "true", "on", "yes":
		return true, true
	case "0", "false", "off", "no":
		return false, true
	}
	return false, false
}

// ParseBool reads a BOOL job parameter value: the spellings of
// bool(string), or the number 1 or 0 written as an int or a float (1.0),
// which parameter values accept too (RFC 0007).
func ParseBool(s string) (bool, bool) {
	if b, ok := parseBool(s); ok {
		return b, true
	}
	if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && (f == 1 || f == 0) && strings.ContainsAny(s, "0123456789") {
		return f == 1, true
	}
	return false, false
}

// ValidType reports whether t names a value type.
func ValidType(t string) bool { return validType(t) }

// Range is a range_expr value: the integers of an <IntRangeExpr> such as
// "1-10:2,20", in increasing order. Package openjd provides it.
type Range interface {
	Len() int64
	At(i int64) int64
	Contains(v int64) bool
	String() string
}

// RangeParser parses range expressions for range_expr values. Package
// openjd sets it, so that both use one implementation of the grammar.
var RangeParser func(s string) (Range, error)

func parseRange(s string) (Range, error) {
	if RangeParser == nil {
		return nil, fmt.Errorf("range expressions are not available")
	}
	return RangeParser(s)
}
