package openjd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/berth-run/berth/openjd/expr"
)

// This file connects the EXPR extension's expression language (package
// openjd/expr) to format strings and scopes.

func init() {
	// range_expr values use this package's range expressions.
	expr.RangeParser = func(s string) (expr.Range, error) {
		r, err := ParseIntRange(s)
		if err != nil {
			return nil, err
		}
		return exprRange{r}, nil
	}
}

// exprRange is a range expression as expressions see it: its values in
// the order written (IntRange.Ordered).
type exprRange struct{ *IntRange }

func (r exprRange) At(i int64) int64 { return r.Ordered(i) }

// exprParser parses format string interpolations as EXPR expressions.
// types gives the expression types of the symbols, to read their values
// from a Scope's text.
type exprParser struct {
	types symbols
}

// ParseExpr implements ExprParser.
func (p exprParser) ParseExpr(src string) (Expr, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("empty expression in {{ }}")
	}
	e, err := expr.Parse(src)
	if err != nil {
		return nil, errorfExpr(src, err)
	}
	if err := e.Check(checkEnv(p.types)); err != nil {
		return nil, errorfExpr(src, err)
	}
	return &exprNode{e: e, types: p.types}, nil
}

// setKnown records that name has value v when the template is checked.
func (s symbols) setKnown(name string, v expr.Value) { s[knownKey(name)] = expr.Source(v) }

// knownKey is the key under which a symbol table holds the value of a let
// binding known when the template is checked, as expression source.
func knownKey(name string) string { return "=" + name }

// checkEnv tells expr.Check what is known of the symbols when the template
// is checked: the values of let bindings of literals, the types of the
// others. A table without Session.* symbols is one of fields resolved
// when the job is created, where path mapping does not apply.
func checkEnv(types symbols) expr.CheckEnv {
	_, host := types["Session.WorkingDirectory"]
	return expr.CheckEnv{
		NoPathMapping: !host,
		Known: func(name string) (expr.Value, bool) {
			src, ok := types[knownKey(name)]
			if !ok {
				return expr.Null, false
			}
			e, err := expr.Parse(src)
			if err != nil {
				return expr.Null, false
			}
			v, err := e.Eval(nil)
			return v, err == nil
		},
		Sample: func(name string) (expr.Value, bool) {
			t, ok := types[name]
			if !ok || t == anyType {
				return expr.Null, false
			}
			return sampleValue(t)
		},
	}
}

// sampleValue is a value of type t: lists get one item, so that their
// items' type is checked too.
func sampleValue(t string) (expr.Value, bool) {
	if inner, ok := strings.CutPrefix(t, "list["); ok {
		it, ok := sampleValue(strings.TrimSuffix(inner, "]"))
		return expr.ListValue([]expr.Value{it}), ok
	}
	if t == "string" {
		t = ""
	}
	s, ok := sampleText[t]
	if !ok {
		return expr.Null, false
	}
	v, err := expr.FromText(t, s)
	return v, err == nil
}

// sampleText is a value of each type, for typeCheck.
var sampleText = map[string]string{"": "a", "int": "1", "float": "1.5", "bool": "true", "path": "/a",
	"range_expr": "1"}

// sampleScope gives every symbol a sample value of its type.
func sampleScope(types symbols) MapScope {
	scope := MapScope{}
	for name, t := range types {
		s, ok := sampleText[t]
		if !ok {
			s = "[]"
		}
		scope[name] = s
	}
	return scope
}

func errorfExpr(src string, err error) error {
	return fmt.Errorf("{{%s}}: %w", src, err)
}

// exprNode is an EXPR expression in a format string.
type exprNode struct {
	e     *expr.Expr
	types symbols
}

// ValueScope is a Scope that also holds typed values, such as the let
// bindings of the EXPR extension.
type ValueScope interface {
	Scope
	LookupValue(name string) (expr.Value, bool)
}

// References implements Expr.
func (x *exprNode) References(fn func(string)) { x.e.References(fn) }

func (x *exprNode) String() string { return x.e.String() }

// Eval implements Expr: the value as a format string shows it.
func (x *exprNode) Eval(s Scope) (string, error) {
	v, err := x.Value(s)
	if err != nil {
		return "", err
	}
	return v.Format(), nil
}

// Value evaluates the expression to a typed value.
func (x *exprNode) Value(s Scope) (expr.Value, error) {
	return evalExpr(x.e, x.types, s)
}

func evalExpr(e *expr.Expr, types symbols, s Scope) (expr.Value, error) {
	v, err := evalRaw(e, types, s)
	if err != nil {
		return expr.Null, fmt.Errorf("{{%s}}: %w", e.String(), err)
	}
	return v, nil
}

// evalRaw is evalExpr without the expression in its errors.
func evalRaw(e *expr.Expr, types symbols, s Scope) (expr.Value, error) {
	env := &expr.Env{Lookup: func(name string) (expr.Value, bool) {
		if s == nil {
			return expr.Null, false
		}
		if vs, ok := s.(ValueScope); ok {
			if v, ok := vs.LookupValue(name); ok {
				return v, true
			}
		}
		text, ok := s.Lookup(name)
		if !ok {
			return expr.Null, false
		}
		v, err := expr.FromText(types[name], text)
		if err != nil {
			return expr.StringValue(text), true
		}
		return v, true
	}}
	if m, ok := s.(PathMapper); ok {
		env.MapPath = m.PathMapping()
	}
	return e.Eval(env)
}

// PathMapper is a Scope of a worker host, where apply_path_mapping can
// map paths with the session's path mapping rules.
type PathMapper interface {
	// PathMapping returns the mapping function; nil if there is none.
	PathMapping() func(string) string
}

// Values is a ValueScope of typed values over a base Scope.
type Values struct {
	Base Scope
	Vars map[string]expr.Value
	// MapPath applies path mapping rules; if nil, those of Base, if any.
	MapPath func(string) string
}

// PathMapping implements PathMapper.
func (v Values) PathMapping() func(string) string {
	if v.MapPath != nil {
		return v.MapPath
	}
	if m, ok := v.Base.(PathMapper); ok {
		return m.PathMapping()
	}
	return nil
}

// Lookup implements Scope.
func (v Values) Lookup(name string) (string, bool) {
	if x, ok := v.Vars[name]; ok {
		return x.Format(), true
	}
	if v.Base == nil {
		return "", false
	}
	return v.Base.Lookup(name)
}

// LookupValue implements ValueScope.
func (v Values) LookupValue(name string) (expr.Value, bool) {
	if x, ok := v.Vars[name]; ok {
		return x, true
	}
	if vs, ok := v.Base.(ValueScope); ok {
		return vs.LookupValue(name)
	}
	return expr.Null, false
}

// exprType is the expression type of a job parameter type.
func exprType(t ParameterType) string {
	if t == ParamString {
		return ""
	}
	return strings.ToLower(string(t))
}

// rawExprType is the type of RawParam.<name>: a PATH's raw value is a
// string, since it may be a path of another operating system.
func rawExprType(t ParameterType) string {
	return strings.ReplaceAll(exprType(t), "path", "string")
}

// Value evaluates a format string that is a single interpolation to its
// typed value; other format strings evaluate to their text as a string.
func (f FormatString) Value(s Scope) (expr.Value, error) {
	if len(f.parts) == 1 && f.parts[0].expr != nil {
		if x, ok := f.parts[0].expr.(*exprNode); ok {
			return x.Value(s)
		}
	}
	str, err := f.Resolve(s)
	if err != nil {
		return expr.Null, err
	}
	return expr.StringValue(str), nil
}

// ResolveItems resolves a format string that is an item of a list, such as
// an action's args: with EXPR, an interpolation that is the whole item and
// evaluates to null drops it, and one that evaluates to a list gives its
// items (RFC 0005).
func (f FormatString) ResolveItems(s Scope) ([]string, error) {
	v, err := f.Value(s)
	if err != nil {
		return nil, err
	}
	switch v.Kind() {
	case expr.KNull:
		return nil, nil
	case expr.KList:
		out := make([]string, 0, len(v.Items()))
		for _, it := range v.Items() {
			out = append(out, it.Format())
		}
		return out, nil
	}
	return []string{v.Format()}, nil
}
