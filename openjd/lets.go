package openjd

import (
	"fmt"
	"maps"
	"strings"

	"github.com/berth-run/berth/openjd/expr"
)

// Let bindings of the EXPR extension (RFC 0005, "Let Bindings"): a step,
// a step script, a simple action and an environment script may bind
// names to the values of expressions, evaluated in declaration order.

// Limits of a let block.
const (
	maxLets       = 50
	maxLetNameLen = 512
)

// Let is one let binding: Name bound to the value of an expression.
type Let struct {
	Name string
	x    *exprNode
	// known is the value as expression source when it is known at check
	// time (the binding uses only literals and such bindings).
	known string
}

// String returns the binding in source form, "name = expression".
func (l Let) String() string { return l.Name + " = " + strings.TrimSpace(l.x.String()) }

// BindLets evaluates groups of let bindings in order, each binding seeing
// s and the bindings before it, and returns s with the bindings added.
// Without bindings it returns s itself.
func BindLets(s Scope, groups ...[]Let) (Scope, error) {
	n := 0
	for _, g := range groups {
		n += len(g)
	}
	if n == 0 {
		return s, nil
	}
	out := Values{Base: s, Vars: make(map[string]expr.Value, n)}
	for _, g := range groups {
		for _, l := range g {
			v, err := evalRaw(l.x.e, l.x.types, out)
			if err != nil {
				return nil, fmt.Errorf("let %s: %w", l, err)
			}
			out.Vars[l.Name] = v
		}
	}
	return out, nil
}

// anyType is the expression type of a let binding whose type is not known
// when the template is checked (it depends on a branch or a call), so
// that type checks involving it are left to evaluation.
const anyType = "any"

// isLetName reports whether a symbol is a let binding: spec-defined
// symbols start with an uppercase letter, user names never do.
func isLetName(name string) bool { return expr.IsUserIdent(name) }

// letNames returns the let bindings among syms.
func letNames(syms symbols) map[string]bool {
	out := map[string]bool{}
	for k := range syms {
		if isLetName(k) {
			out[k] = true
		}
	}
	return out
}

// lets reads a let block. syms are the names its expressions may use;
// names already bound by enclosing blocks may not be bound again. It
// returns the bindings and syms with them added, with their types.
func (c *checker) lets(n *node, path string, syms symbols) ([]Let, symbols) {
	if n == nil {
		return nil, syms
	}
	if !c.ext.has(ExprExtension) {
		c.errorf(path, "let bindings need the EXPR extension")
		return nil, syms
	}
	items, ok := c.list(n, path, 1)
	if !ok {
		return nil, syms
	}
	if len(items) > maxLets {
		c.errorf(path, "has %d bindings, more than the maximum of %d", len(items), maxLets)
	}
	enclosing := letNames(syms)
	out := maps.Clone(syms)
	if out == nil {
		out = symbols{}
	}
	var lets []Let
	for i, it := range items {
		p := index(path, i)
		s, ok := c.str(it, p)
		if !ok {
			continue
		}
		l, typ, ok := c.let(s, p, out, enclosing)
		if !ok {
			if l.Name != "" {
				// Bound all the same, so that its uses are not reported too.
				out[l.Name] = anyType
			}
			continue
		}
		lets = append(lets, l)
		out[l.Name] = typ
		if l.known != "" {
			out[knownKey(l.Name)] = l.known
		}
	}
	return lets, out
}

// let checks one binding "name = expression" against syms, the names
// visible to it, and returns it with the type of its value.
func (c *checker) let(s, path string, syms symbols, enclosing map[string]bool) (Let, string, bool) {
	lhs, src, found := strings.Cut(s, "=")
	name := strings.TrimSpace(lhs)
	switch {
	case !found:
		c.errorf(path, "%q is not a binding of the form name = expression", s)
		return Let{}, "", false
	case name == "":
		c.errorf(path, "the binding has no name before '='")
		return Let{}, "", false
	case !expr.IsUserIdent(name):
		c.errorf(path, "%q is not a valid name: it must start with a lowercase letter or '_' and have only latin letters, digits and '_'", name)
		return Let{}, "", false
	case len(name) > maxLetNameLen:
		c.errorf(path, "the name is %d characters long, more than the maximum of %d", len(name), maxLetNameLen)
		return Let{}, "", false
	case enclosing[name]:
		c.errorf(path, "%s shadows the let binding %s of an enclosing block", name, name)
		return Let{}, "", false
	case hasSym(syms, name):
		c.errorf(path, "%s is bound twice", name)
		return Let{}, "", false
	case strings.TrimSpace(src) == "":
		c.errorf(path, "the binding of %s has no expression after '='", name)
		return Let{}, "", false
	}
	e, err := expr.Parse(src)
	if err != nil {
		c.errorf(path, "%s: %v", name, err)
		return Let{Name: name}, "", false
	}
	ok := true
	e.References(func(ref string) {
		if !ok {
			return
		}
		switch {
		case ref == name || strings.HasPrefix(ref, name+"."):
			c.errorf(path, "%s refers to itself", name)
			ok = false
		case !syms.defined(ref, true):
			c.errorf(path, "%s: %s is not defined here", name, ref)
			ok = false
		}
	})
	if !ok || !c.checkLoopVars(e, path, name, syms) {
		return Let{Name: name}, "", false
	}
	env := checkEnv(syms)
	if err := e.Check(env); err != nil {
		c.errorf(path, "%s = %s: %v", name, strings.TrimSpace(src), err)
		return Let{Name: name}, "", false
	}
	typ, err := inferType(e, syms)
	if err != nil {
		c.errorf(path, "%s: %v", name, err)
		return Let{Name: name}, "", false
	}
	l := Let{Name: name, x: &exprNode{e: e, types: syms}}
	// A range_expr is not handed on: its text loses the order of runs
	// written descending.
	if v, err := e.Eval(&expr.Env{Lookup: env.Known}); err == nil && !strings.Contains(v.Type(), "range_expr") {
		l.known = expr.Source(v)
		if t := exprTypeOf(v); t != anyType {
			typ = t
		}
	}
	return l, typ, true
}

func hasSym(syms symbols, name string) bool {
	_, ok := syms[name]
	return ok
}

// inferType returns the type of an expression's value, found by
// evaluating it with sample values of its symbols' types, or anyType when
// that does not tell (branches, calls, unknown operand types). A type
// error found so is returned.
func inferType(e *expr.Expr, syms symbols) (string, error) {
	if !e.Straight() || refersToAny(e, syms) {
		return anyType, nil
	}
	v, err := evalRaw(e, syms, sampleScope(syms))
	switch {
	case expr.IsTypeError(err):
		return "", err
	case err != nil || v.IsNull() || strings.Contains(v.Type(), "nulltype"):
		return anyType, nil
	case v.Kind() == expr.KString:
		return "", nil
	}
	return v.Type(), nil
}

// refersToAny reports whether e reads a symbol of unknown type.
func refersToAny(e *expr.Expr, syms symbols) bool {
	found := false
	e.References(func(ref string) {
		t, ok := syms.lookup(ref, true)
		found = found || ok && t == anyType
	})
	return found
}

// checkLoopVars refuses list comprehension variables of e (named in errors
// as what) that shadow a let binding of syms; loop variables have the form
// of let names, so any symbol they match is one.
func (c *checker) checkLoopVars(e *expr.Expr, path, what string, syms symbols) bool {
	ok := true
	e.LoopVars(func(v string) {
		if ok && hasSym(syms, v) {
			c.errorf(path, "%s: the loop variable %s shadows a let binding", what, v)
			ok = false
		}
	})
	return ok
}

// exprTypeOf is the symbol type of a value known at check time.
func exprTypeOf(v expr.Value) string {
	switch {
	case v.IsNull() || strings.Contains(v.Type(), "nulltype"):
		return anyType
	case v.Kind() == expr.KString:
		return ""
	}
	return v.Type()
}
