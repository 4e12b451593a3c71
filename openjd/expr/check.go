package expr

import (
	"errors"
	"strings"
)

// CheckEnv is what is known of an expression's names when its template
// is checked, before any job exists.
type CheckEnv struct {
	// Known returns the value of a name that is fixed when the template
	// is checked (a let binding of literals).
	Known func(name string) (Value, bool)
	// Sample returns a value of the type of a name whose value is not
	// known; false if its type is not known either.
	Sample func(name string) (Value, bool)
	// NoPathMapping refuses apply_path_mapping, for the fields resolved
	// where no path mapping rules exist.
	NoPathMapping bool
}

// A typeError is an error that does not depend on values unknown at check
// time: an unknown function, no overload for the argument types, an
// operator that cannot take its operands' types.
type typeError struct{ err error }

func (e *typeError) Error() string { return e.err.Error() }
func (e *typeError) Unwrap() error { return e.err }

// typeLevel reports whether an evaluation error with sample values is one
// that any values of those types would give.
func typeLevel(err error) bool {
	s := err.Error()
	for _, p := range []string{"cannot use '", "no version takes", "unknown function", "has no property",
		"cannot be indexed", "an index must be an int", "must be a bool, not", "a list cannot mix",
		"cannot convert path to bool", "cannot convert list", "needs a list or range_expr",
		"'not' needs a bool", "cannot concatenate", "cannot order", "a list cannot hold null"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// Check does at template check time what can be done then (RFC 0005):
// it evaluates the parts of the expression whose operands are all known
// (literals and known names), so that their errors (division by zero,
// overflow, failed conversions, bad patterns, the limits) are found, and
// type-checks the rest with sample values of the names' types. Errors in
// a branch that a condition not known yet may skip are reported only if
// they are type errors.
func (e *Expr) Check(env CheckEnv) error {
	c := &checker{env: env}
	if err := c.static(e.root); err != nil {
		return err
	}
	_, err := c.node(e.root, nil)
	return err
}

type checker struct{ env CheckEnv }

// static refuses unknown functions and, where it is not available,
// apply_path_mapping, wherever they are.
func (c *checker) static(root Node) error {
	var err error
	inspect(root, func(n Node) bool {
		call, ok := n.(*Call)
		if !ok || err != nil {
			return err == nil
		}
		name := calleeName(call)
		switch {
		case name == "":
		case !IsFunction(name):
			err = &typeError{errAt(call.P, "%s(): unknown function", name)}
		case name == "apply_path_mapping" && c.env.NoPathMapping:
			err = &typeError{errAt(call.P, "apply_path_mapping() is only available where path mapping applies, in the fields resolved on the worker host")}
		}
		return err == nil
	})
	return err
}

func calleeName(call *Call) string {
	switch f := call.Fn.(type) {
	case *Name:
		return f.Parts[len(f.Parts)-1]
	case *Attr:
		return f.Name
	}
	return ""
}

// node checks n; locals are the comprehension variables in scope. It
// reports whether n's value is known (then it was evaluated).
func (c *checker) node(n Node, locals []string) (bool, error) {
	if n == nil {
		return true, nil
	}
	if c.known(n, locals) {
		_, err := c.eval(n, c.env.Known)
		return err == nil, err
	}
	var kids []Node
	switch n := n.(type) {
	case *Cond:
		if _, err := c.node(n.Test, locals); err != nil {
			return false, err
		}
		if err := c.condType(n.Test, locals, "the condition of 'if'"); err != nil {
			return false, err
		}
		return false, c.branches(locals, n.Then, n.Else)
	case *Logic:
		if _, err := c.node(n.L, locals); err != nil {
			return false, err
		}
		return false, c.branches(locals, n.R)
	case *Comp:
		if _, err := c.node(n.Iter, locals); err != nil {
			return false, err
		}
		inner := append(locals[:len(locals):len(locals)], n.Var)
		if err := c.branches(inner, n.Elem, n.Filter); err != nil {
			return false, err
		}
		if n.Filter != nil {
			return false, c.condType(n.Filter, inner, "a list comprehension filter")
		}
		return false, nil
	case *Call:
		switch f := n.Fn.(type) {
		case *Name:
			if len(f.Parts) > 1 {
				kids = append(kids, &Name{P: f.P, Parts: f.Parts[:len(f.Parts)-1]})
			}
		case *Attr:
			kids = append(kids, f.X)
		}
		kids = append(kids, n.Args...)
	default:
		kids = children(n)
	}
	for _, k := range kids {
		if _, err := c.node(k, locals); err != nil {
			return false, err
		}
	}
	if call, ok := n.(*Call); ok {
		if err := c.regexArgs(call, kids, locals); err != nil {
			return false, err
		}
	}
	return false, c.sampleCheck(n, locals)
}

// regexArgs checks the pattern (and re_sub's replacement) of a regex
// function when they are known, even if the string searched is not.
func (c *checker) regexArgs(call *Call, args []Node, locals []string) error {
	name := calleeName(call)
	str := func(n Node) (string, bool) {
		if !c.known(n, locals) {
			return "", false
		}
		v, err := c.eval(n, c.env.Known)
		return v.s, err == nil && v.kind == KString
	}
	if emptyRefused[name] && len(args) >= 2 {
		// An empty separator or substring is an error whatever the
		// string is (RFC 0006).
		if sep, ok := str(args[1]); ok && sep == "" {
			return &typeError{errAt(call.P, "%s(): the %s must not be empty", name, emptyRefusedWhat(name))}
		}
	}
	if !strings.HasPrefix(name, "re_") || name == "re_escape" || len(args) < 2 {
		return nil
	}
	if pat, ok := str(args[1]); ok {
		if _, err := compileRegex(pat); err != nil {
			return errAt(call.P, "%s(): %v", name, err)
		}
	}
	if name == "re_sub" && len(args) == 3 {
		if repl, ok := str(args[2]); ok {
			if err := checkReplacement(repl); err != nil {
				return errAt(call.P, "%s(): %v", name, err)
			}
		}
	}
	return nil
}

// branches checks nodes that may not be evaluated: only their type errors
// count.
func (c *checker) branches(locals []string, nodes ...Node) error {
	for _, b := range nodes {
		if _, err := c.node(b, locals); err != nil {
			var te *typeError
			if errors.As(err, &te) {
				return err
			}
		}
	}
	return nil
}

// condType refuses a condition whose type is not bool.
func (c *checker) condType(n Node, locals []string, what string) error {
	if !c.sampleable(n, locals) {
		return nil
	}
	v, err := c.eval(n, c.lookupSample)
	if err == nil && v.kind != KBool {
		return &typeError{errAt(n.pos(), "%s must be a bool, not %s", what, v.Type())}
	}
	return nil
}

// sampleCheck evaluates n with sample values of its names' types and
// reports the errors that any values of those types would give.
func (c *checker) sampleCheck(n Node, locals []string) error {
	if !c.sampleable(n, locals) {
		return nil
	}
	if _, err := c.eval(n, c.lookupSample); err != nil && typeLevel(err) {
		return &typeError{err}
	}
	return nil
}

func (c *checker) lookupSample(name string) (Value, bool) {
	if c.env.Known != nil {
		if v, ok := c.env.Known(name); ok {
			return v, true
		}
	}
	if c.env.Sample != nil {
		return c.env.Sample(name)
	}
	return Null, false
}

// eval evaluates n alone with the names of lookup.
func (c *checker) eval(n Node, lookup func(string) (Value, bool)) (Value, error) {
	ev := &evaluator{env: &Env{Lookup: lookup}, maxOps: DefaultMaxOps, maxBytes: DefaultMaxBytes}
	if c.env.NoPathMapping {
		ev.env.MapPath = nil
	} else {
		ev.env.MapPath = func(p string) string { return p }
	}
	return ev.eval(n)
}

// known reports whether n's value is fixed: every name in it is known.
func (c *checker) known(n Node, locals []string) bool {
	return c.names(n, locals, func(name string) bool {
		if c.env.Known == nil {
			return false
		}
		return resolves(name, c.env.Known)
	})
}

// sampleable reports whether n can be type-checked with sample values:
// every name has a known type, and nothing in n picks a path by value
// (conditions, and/or, comprehensions) or returns values of a type that
// depends on them (re_match and re_search give null when nothing
// matches; fail never returns).
func (c *checker) sampleable(n Node, locals []string) bool {
	ok := true
	inspect(n, func(k Node) bool {
		switch k := k.(type) {
		case *Cond, *Logic, *Comp:
			ok = false
		case *Call:
			switch calleeName(k) {
			case "re_match", "re_search", "fail", "apply_path_mapping":
				ok = false
			}
		}
		return ok
	})
	return ok && c.names(n, locals, func(name string) bool { return resolves(name, c.lookupSample) })
}

// resolves reports whether a dotted name or a prefix of it has a value.
func resolves(name string, lookup func(string) (Value, bool)) bool {
	for {
		if _, ok := lookup(name); ok {
			return true
		}
		i := strings.LastIndex(name, ".")
		if i < 0 {
			return false
		}
		name = name[:i]
	}
}

// names reports whether ok holds for every free name of n; a
// comprehension variable bound outside n makes it false.
func (c *checker) names(n Node, locals []string, ok func(string) bool) bool {
	all := true
	var walk func(n Node, bound []string)
	walk = func(n Node, bound []string) {
		if n == nil || !all {
			return
		}
		switch n := n.(type) {
		case *Name:
			for _, b := range bound {
				if b == n.Parts[0] {
					return
				}
			}
			for _, l := range locals {
				if l == n.Parts[0] {
					all = false
					return
				}
			}
			all = ok(strings.Join(n.Parts, "."))
		case *Call:
			switch f := n.Fn.(type) {
			case *Name:
				if len(f.Parts) > 1 {
					walk(&Name{P: f.P, Parts: f.Parts[:len(f.Parts)-1]}, bound)
				}
			default:
				walk(f, bound)
			}
			for _, a := range n.Args {
				walk(a, bound)
			}
		case *Comp:
			walk(n.Iter, bound)
			inner := append(bound[:len(bound):len(bound)], n.Var)
			walk(n.Elem, inner)
			walk(n.Filter, inner)
		default:
			for _, k := range children(n) {
				walk(k, bound)
			}
		}
	}
	walk(n, nil)
	return all
}

// Source returns expression text that evaluates to v, so that a value
// known when a template is checked can be handed on as text.
func Source(v Value) string {
	switch v.kind {
	case KString:
		var b strings.Builder
		writeJSON(&b, v)
		return b.String()
	case KPath:
		return "path(" + Source(StringValue(v.s)) + ")"
	case KRange:
		return "range_expr(" + Source(StringValue(v.r.String())) + ")"
	case KFloat:
		s := v.String()
		if !strings.ContainsAny(s, ".eEn") {
			s += ".0"
		}
		return s
	case KList:
		parts := make([]string, len(v.l))
		for i, x := range v.l {
			parts[i] = Source(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return v.String()
}

// emptyRefused are the functions whose second argument must not be empty.
var emptyRefused = map[string]bool{"split": true, "rsplit": true, "count": true, "find": true,
	"rfind": true, "index": true, "rindex": true, "replace": true}

func emptyRefusedWhat(name string) string {
	switch name {
	case "split", "rsplit":
		return "separator"
	case "replace":
		return "old string"
	}
	return "substring"
}
