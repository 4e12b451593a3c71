package openjd

import (
	"errors"
	"fmt"
	"strings"
)

// FormatString is a string with {{ ... }} interpolations (Template Schemas
// 7.3). It keeps the text it was parsed from and the parsed pieces.
type FormatString struct {
	raw   string
	parts []fsPart
}

// fsPart is either literal text (expr nil) or one interpolation.
type fsPart struct {
	lit  string
	expr Expr
}

// Expr is the parsed content of one {{ ... }} interpolation. The interface
// is deliberately small so that the EXPR extension's expression language can
// provide its own node types.
type Expr interface {
	// References calls fn with every value reference (a dotted name such as
	// "Task.Param.Frame") the expression reads, for scope checks.
	References(fn func(name string))
	// Eval computes the expression's value as a string.
	Eval(s Scope) (string, error)
	// String returns the expression in source form.
	String() string
}

// ExprParser turns the text between {{ and }} into an Expr.
type ExprParser interface {
	ParseExpr(src string) (Expr, error)
}

// Scope gives the values of the names an expression may reference.
type Scope interface {
	Lookup(name string) (string, bool)
}

// MapScope is a Scope backed by a map from dotted names to values.
type MapScope map[string]string

// Lookup implements Scope.
func (m MapScope) Lookup(name string) (string, bool) {
	v, ok := m[name]
	return v, ok
}

// Ref is a value reference: a dotted name like Param.Frame. It is the only
// expression of the base specification.
type Ref struct {
	Name string
}

// References implements Expr.
func (r Ref) References(fn func(string)) { fn(r.Name) }

// Eval implements Expr.
func (r Ref) Eval(s Scope) (string, error) {
	if v, ok := s.Lookup(r.Name); ok {
		return v, nil
	}
	return "", fmt.Errorf("%s has no value", r.Name)
}

func (r Ref) String() string { return r.Name }

// NameParser is the ExprParser of the base specification: it accepts
// only value references, <Name> ::= <Name> "." <Identifier> | <Identifier>.
type NameParser struct{}

// errNeedsExpr explains why a richer expression was refused.
var errNeedsExpr = errors.New("only value references such as Param.Name are allowed; expressions need the EXPR extension")

// ParseExpr implements ExprParser.
func (NameParser) ParseExpr(src string) (Expr, error) {
	s := strings.TrimSpace(src)
	if s == "" {
		return nil, errors.New("empty expression in {{ }}")
	}
	for seg := range strings.SplitSeq(s, ".") {
		if !isIdentifier(seg) {
			return nil, fmt.Errorf("{{%s}}: %w", src, errNeedsExpr)
		}
	}
	return Ref{Name: s}, nil
}

// ParseFormatString parses s with the given expression parser.
func ParseFormatString(s string, p ExprParser) (FormatString, error) {
	f := FormatString{raw: s}
	rest := s
	for {
		open := strings.Index(rest, "{{")
		if open < 0 {
			break
		}
		end := strings.Index(rest[open+2:], "}}")
		if end < 0 {
			return FormatString{}, errors.New("'{{' without a closing '}}'")
		}
		if open > 0 {
			f.parts = append(f.parts, fsPart{lit: rest[:open]})
		}
		e, err := p.ParseExpr(rest[open+2 : open+2+end])
		if err != nil {
			return FormatString{}, err
		}
		f.parts = append(f.parts, fsPart{expr: e})
		rest = rest[open+2+end+2:]
	}
	if rest != "" {
		f.parts = append(f.parts, fsPart{lit: rest})
	}
	return f, nil
}

// Literal returns a FormatString holding s as plain text.
func Literal(s string) FormatString {
	if s == "" {
		return FormatString{}
	}
	return FormatString{raw: s, parts: []fsPart{{lit: s}}}
}

// String returns the format string as written in the template.
func (f FormatString) String() string { return f.raw }

// IsLiteral reports whether f has no interpolations.
func (f FormatString) IsLiteral() bool {
	for _, p := range f.parts {
		if p.expr != nil {
			return false
		}
	}
	return true
}

// Exprs returns the interpolations of f in order.
func (f FormatString) Exprs() []Expr {
	var out []Expr
	for _, p := range f.parts {
		if p.expr != nil {
			out = append(out, p.expr)
		}
	}
	return out
}

// Resolve evaluates every interpolation against s.
func (f FormatString) Resolve(s Scope) (string, error) {
	if f.IsLiteral() {
		return f.raw, nil
	}
	var b strings.Builder
	for _, p := range f.parts {
		if p.expr == nil {
			b.WriteString(p.lit)
			continue
		}
		v, err := p.expr.Eval(s)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// symbols is the set of names a format string may reference at one place of
// a template (Template Schemas 7.3.1), each with its expression type
// ("int", "path", "list[string]"; "" for string), which EXPR expressions
// use to read the values' text.
type symbols map[string]string

// with returns s plus names of type string.
func (s symbols) with(names ...string) symbols {
	out := make(symbols, len(s)+len(names))
	for k, t := range s {
		out[k] = t
	}
	for _, n := range names {
		out[n] = ""
	}
	return out
}

// withType returns s plus name of type t.
func (s symbols) withType(name, t string) symbols {
	out := s.with()
	out[name] = t
	return out
}

// defined reports whether name, or with EXPR a prefix of it (a property
// such as Param.File.stem), is a symbol.
func (s symbols) defined(name string, expr bool) bool {
	_, ok := s.lookup(name, expr)
	return ok
}

// lookup returns the type of name, or with EXPR that of its longest prefix
// that is a symbol.
func (s symbols) lookup(name string, expr bool) (string, bool) {
	for {
		if t, ok := s[name]; ok {
			return t, true
		}
		i := strings.LastIndex(name, ".")
		if !expr || i < 0 {
			return "", false
		}
		name = name[:i]
	}
}

// format reads a format string and checks its references against syms.
func (c *checker) format(n *node, path string, syms symbols) (FormatString, bool) {
	s, ok := c.str(n, path)
	if !ok {
		return FormatString{}, false
	}
	return c.formatText(s, path, syms)
}

func (c *checker) formatText(s, path string, syms symbols) (FormatString, bool) {
	var p ExprParser = c.exprs
	isExpr := c.ext.has(ExprExtension)
	if isExpr {
		p = exprParser{types: syms}
	}
	f, err := ParseFormatString(s, p)
	if err != nil {
		c.errorf(path, "%v", err)
		return FormatString{}, false
	}
	ok := true
	for _, e := range f.Exprs() {
		if x, isX := e.(*exprNode); isX && !c.checkLoopVars(x.e, path, "{{"+x.e.String()+"}}", syms) {
			ok = false
		}
		e.References(func(name string) {
			if !syms.defined(name, isExpr) {
				c.errorf(path, "{{%s}}: %s is not defined here", e, name)
				ok = false
			}
		})
	}
	return f, ok
}

// isFormatString reports whether a string is meant as a format string with
// interpolations rather than a literal value.
func isFormatString(s string) bool { return strings.Contains(s, "{{") }
