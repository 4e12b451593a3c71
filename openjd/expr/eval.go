package expr

import (
	"fmt"
	"math"
	"strings"
)

// Limits bound the work of one evaluation (RFC 0005, memory- and
// operation-bounded evaluation). Zero fields take the defaults.
type Limits struct {
	// MaxOps bounds the operations: calls, operators, items iterated and
	// string bytes processed (per 256).
	MaxOps int64
	// MaxBytes bounds the total size of the strings and lists built.
	MaxBytes int64
}

// Default limits, those RFC 0005 recommends.
const (
	DefaultMaxOps   = 10_000_000
	DefaultMaxBytes = 100_000_000
)

// Env is what an evaluation can see.
type Env struct {
	// Lookup returns the value of a dotted name such as Param.Frame or of
	// a let binding; nil means no names are defined.
	Lookup func(name string) (Value, bool)
	// MapPath applies the session's path mapping rules, for
	// apply_path_mapping; nil where path mapping is not available.
	MapPath func(path string) string
	Limits
}

// Eval evaluates the expression.
func (e *Expr) Eval(env *Env) (Value, error) {
	if env == nil {
		env = &Env{}
	}
	ev := &evaluator{env: env, maxOps: env.MaxOps, maxBytes: env.MaxBytes}
	if ev.maxOps <= 0 {
		ev.maxOps = DefaultMaxOps
	}
	if ev.maxBytes <= 0 {
		ev.maxBytes = DefaultMaxBytes
	}
	return ev.eval(e.root)
}

// References calls fn with every name the expression reads from its
// environment, as written (Param.File.stem), without method names and
// list comprehension variables.
func (e *Expr) References(fn func(name string)) {
	var walk func(n Node, locals []string)
	walk = func(n Node, locals []string) {
		switch n := n.(type) {
		case *Name:
			for _, l := range locals {
				if l == n.Parts[0] {
					return
				}
			}
			fn(strings.Join(n.Parts, "."))
		case *Attr:
			walk(n.X, locals)
		case *Call:
			switch f := n.Fn.(type) {
			case *Name:
				if len(f.Parts) > 1 {
					walk(&Name{P: f.P, Parts: f.Parts[:len(f.Parts)-1]}, locals)
				}
			case *Attr:
				walk(f.X, locals)
			default:
				walk(f, locals)
			}
			for _, a := range n.Args {
				walk(a, locals)
			}
		case *Comp:
			walk(n.Iter, locals)
			inner := append(locals[:len(locals):len(locals)], n.Var)
			walk(n.Elem, inner)
			if n.Filter != nil {
				walk(n.Filter, inner)
			}
		case nil:
		default:
			for _, k := range children(n) {
				walk(k, locals)
			}
		}
	}
	walk(e.root, nil)
}

var errTooBig = fmt.Errorf("the result is too large")

type evaluator struct {
	env              *Env
	locals           []local
	ops, bytes       int64
	maxOps, maxBytes int64
}

type local struct {
	name string
	v    Value
}

// work charges n operations.
func (ev *evaluator) work(n int64) error {
	ev.ops += n
	if ev.ops > ev.maxOps || ev.ops < 0 {
		return fmt.Errorf("the expression takes more than %d operations", ev.maxOps)
	}
	return nil
}

// strWork charges the processing of a string of n bytes.
func (ev *evaluator) strWork(n int) error { return ev.work(int64(n+255) / 256) }

// alloc charges n bytes of values built.
func (ev *evaluator) alloc(n int64) error {
	ev.bytes += n
	if n < 0 || ev.bytes > ev.maxBytes || ev.bytes < 0 {
		return fmt.Errorf("the expression builds values larger than %d bytes", ev.maxBytes)
	}
	return nil
}

func at(n Node, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := err.(*Error); ok {
		return err
	}
	return errAt(n.pos(), "%s", err.Error())
}

func (ev *evaluator) eval(n Node) (Value, error) {
	v, err := ev.eval1(n)
	return v, at(n, err)
}

func (ev *evaluator) eval1(n Node) (Value, error) {
	switch n := n.(type) {
	case *Const:
		return n.V, nil
	case *Name:
		return ev.name(n.Parts)
	case *Attr:
		x, err := ev.eval(n.X)
		if err != nil {
			return Null, err
		}
		return ev.property(x, n.Name)
	case *Call:
		return ev.callNode(n)
	case *Index:
		return ev.index(n)
	case *Unary:
		x, err := ev.eval(n.X)
		if err != nil {
			return Null, err
		}
		if err := ev.work(1); err != nil {
			return Null, err
		}
		return unary(n.Op, x)
	case *Binary:
		l, err := ev.eval(n.L)
		if err != nil {
			return Null, err
		}
		r, err := ev.eval(n.R)
		if err != nil {
			return Null, err
		}
		if err := ev.work(1); err != nil {
			return Null, err
		}
		return ev.binary(n.Op, l, r)
	case *Compare:
		l, err := ev.eval(n.X[0])
		if err != nil {
			return Null, err
		}
		for i, op := range n.Ops {
			r, err := ev.eval(n.X[i+1])
			if err != nil {
				return Null, err
			}
			ok, err := ev.compare(op, l, r)
			if err != nil {
				return Null, at(n.X[i+1], err)
			}
			if !ok {
				return BoolValue(false), nil
			}
			l = r
		}
		return BoolValue(true), nil
	case *Logic:
		l, err := ev.eval(n.L)
		if err != nil {
			return Null, err
		}
		falsy := l.kind == KNull || l.kind == KBool && !l.b
		if falsy == (n.Op == "and") {
			return l, nil
		}
		return ev.eval(n.R)
	case *Cond:
		t, err := ev.eval(n.Test)
		if err != nil {
			return Null, err
		}
		if t.kind != KBool {
			return Null, errAt(n.Test.pos(), "the condition of 'if' must be a bool, not %s", t.Type())
		}
		if t.b {
			return ev.eval(n.Then)
		}
		return ev.eval(n.Else)
	case *ListLit:
		items := make([]Value, 0, len(n.Elems))
		for _, x := range n.Elems {
			v, err := ev.eval(x)
			if err != nil {
				return Null, err
			}
			if v.kind == KNull {
				return Null, errAt(x.pos(), "a list cannot hold null")
			}
			items = append(items, v)
		}
		return ev.list(items)
	case *Comp:
		return ev.comp(n)
	}
	return Null, fmt.Errorf("unknown expression node %T", n)
}

// list makes a list of items, unifying their types (int and float mixed
// become float, path and string string).
func (ev *evaluator) list(items []Value) (Value, error) {
	if err := ev.alloc(int64(16 * len(items))); err != nil {
		return Null, err
	}
	u, err := unify(items)
	if err != nil {
		return Null, err
	}
	return ListValue(u), nil
}

func unify(items []Value) ([]Value, error) {
	if len(items) == 0 {
		return items, nil
	}
	t := items[0].Type()
	same := true
	for _, it := range items[1:] {
		if it.Type() != t {
			same = false
		}
	}
	if same {
		return items, nil
	}
	var target string
	kinds := map[Kind]bool{}
	for _, it := range items {
		kinds[it.kind] = true
	}
	switch {
	case len(kinds) == 2 && kinds[KInt] && kinds[KFloat]:
		target = "float"
	case len(kinds) == 2 && kinds[KString] && kinds[KPath]:
		target = "string"
	case len(kinds) == 1 && kinds[KList]:
		// Lists of lists: unify the items of all of them, then rebuild.
		var all []Value
		for _, it := range items {
			all = append(all, it.l...)
		}
		u, err := unify(all)
		if err != nil {
			return nil, err
		}
		out := make([]Value, len(items))
		k := 0
		for i, it := range items {
			out[i] = ListValue(u[k : k+len(it.l)])
			k += len(it.l)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("a list cannot mix %s and %s", items[0].Type(), firstOther(items, t))
	}
	out := make([]Value, len(items))
	for i, it := range items {
		if target == "float" {
			out[i] = FloatValue(it.Float())
			if it.kind == KFloat {
				out[i] = it
			}
		} else {
			out[i] = StringValue(it.s)
		}
	}
	return out, nil
}

func firstOther(items []Value, t string) string {
	for _, it := range items {
		if it.Type() != t {
			return it.Type()
		}
	}
	return t
}

func (ev *evaluator) comp(n *Comp) (Value, error) {
	it, err := ev.eval(n.Iter)
	if err != nil {
		return Null, err
	}
	if it.kind != KList && it.kind != KRange {
		return Null, errAt(n.Iter.pos(), "a list comprehension needs a list or range_expr, not %s", it.Type())
	}
	if _, bound := ev.lookupLocal(n.Var); bound {
		return Null, errAt(n.P, "the loop variable %s shadows another binding", n.Var)
	}
	count := int64(len(it.l))
	if it.kind == KRange {
		count = it.r.Len()
	}
	if err := ev.work(count); err != nil {
		return Null, err
	}
	var out []Value
	ev.locals = append(ev.locals, local{name: n.Var})
	defer func() { ev.locals = ev.locals[:len(ev.locals)-1] }()
	for i := int64(0); i < count; i++ {
		var x Value
		if it.kind == KRange {
			x = IntValue(it.r.At(i))
		} else {
			x = it.l[i]
		}
		ev.locals[len(ev.locals)-1].v = x
		// Values built while computing an item are released once it is
		// computed: memory counts what is live, not all ever built.
		mark := ev.bytes
		if n.Filter != nil {
			f, err := ev.eval(n.Filter)
			if err != nil {
				return Null, err
			}
			if f.kind != KBool {
				return Null, errAt(n.Filter.pos(), "a list comprehension filter must be a bool, not %s", f.Type())
			}
			if !f.b {
				continue
			}
		}
		ev.bytes = mark
		v, err := ev.eval(n.Elem)
		if err != nil {
			return Null, err
		}
		if v.kind == KNull {
			return Null, errAt(n.Elem.pos(), "a list cannot hold null")
		}
		ev.bytes = mark
		if err := ev.alloc(footprint(v)); err != nil {
			return Null, err
		}
		out = append(out, v)
	}
	return ev.list(out)
}

// footprint is the memory a value holds, as alloc counts it.
func footprint(v Value) int64 {
	switch v.kind {
	case KString, KPath:
		return int64(len(v.s))
	case KList:
		n := int64(16 * len(v.l))
		for _, it := range v.l {
			n += footprint(it)
		}
		return n
	}
	return 0
}

func (ev *evaluator) lookupLocal(name string) (Value, bool) {
	for i := len(ev.locals) - 1; i >= 0; i-- {
		if ev.locals[i].name == name {
			return ev.locals[i].v, true
		}
	}
	return Null, false
}

// name resolves a dotted name: the longest prefix that names a value,
// then properties of it.
func (ev *evaluator) name(parts []string) (Value, error) {
	var v Value
	found := 0
	if l, ok := ev.lookupLocal(parts[0]); ok {
		v, found = l, 1
	} else if ev.env.Lookup != nil {
		for k := len(parts); k > 0; k-- {
			if x, ok := ev.env.Lookup(strings.Join(parts[:k], ".")); ok {
				v, found = x, k
				break
			}
		}
	}
	if found == 0 {
		return Null, fmt.Errorf("%s is not defined", strings.Join(parts, "."))
	}
	for _, p := range parts[found:] {
		var err error
		if v, err = ev.property(v, p); err != nil {
			return Null, err
		}
	}
	return v, nil
}

func (ev *evaluator) callNode(n *Call) (Value, error) {
	var recv *Value
	var fname string
	switch f := n.Fn.(type) {
	case *Name:
		fname = f.Parts[len(f.Parts)-1]
		if len(f.Parts) > 1 {
			v, err := ev.name(f.Parts[:len(f.Parts)-1])
			if err != nil {
				return Null, err
			}
			recv = &v
		}
	case *Attr:
		v, err := ev.eval(f.X)
		if err != nil {
			return Null, err
		}
		fname, recv = f.Name, &v
	default:
		return Null, errAt(n.P, "only named functions can be called")
	}
	args := make([]Value, 0, len(n.Args)+1)
	if recv != nil {
		args = append(args, *recv)
	}
	for _, a := range n.Args {
		v, err := ev.eval(a)
		if err != nil {
			return Null, err
		}
		args = append(args, v)
	}
	if err := ev.work(1); err != nil {
		return Null, err
	}
	v, err := ev.call(fname, args, recv != nil)
	if err != nil {
		return Null, errAt(n.P, "%s(): %v", fname, err)
	}
	return v, nil
}

func (ev *evaluator) index(n *Index) (Value, error) {
	x, err := ev.eval(n.X)
	if err != nil {
		return Null, err
	}
	bound := func(b Node) (*int64, error) {
		if b == nil {
			return nil, nil
		}
		v, err := ev.eval(b)
		if err != nil {
			return nil, err
		}
		if v.kind == KNull && n.Slice {
			return nil, nil
		}
		if v.kind != KInt {
			return nil, errAt(b.pos(), "an index must be an int, not %s", v.Type())
		}
		return &v.i, nil
	}
	lo, err := bound(n.I)
	if err != nil {
		return Null, err
	}
	if err := ev.work(1); err != nil {
		return Null, err
	}
	length, err := seqLen(x)
	if err != nil {
		return Null, err
	}
	if !n.Slice {
		i := *lo
		if i < 0 {
			i += length
		}
		if i < 0 || i >= length {
			return Null, fmt.Errorf("index %d is out of range for a %s of length %d", *lo, x.Type(), length)
		}
		return ev.itemAt(x, i), nil
	}
	hi, err := bound(n.Hi)
	if err != nil {
		return Null, err
	}
	step, err := bound(n.Step)
	if err != nil {
		return Null, err
	}
	idx, err := sliceIndices(length, lo, hi, step, ev.maxOps-ev.ops)
	if err != nil {
		return Null, err
	}
	if err := ev.work(int64(len(idx))); err != nil {
		return Null, err
	}
	if x.kind == KString {
		r := []rune(x.s)
		var b strings.Builder
		for _, i := range idx {
			b.WriteRune(r[i])
		}
		return StringValue(b.String()), nil
	}
	if x.kind == KRange && (step == nil || *step > 0) && len(idx) > 0 {
		// A forward slice of a range_expr is the range_expr of those
		// values; a backward one is a list, since a range_expr's values
		// are always in increasing order.
		vals := make([]int64, len(idx))
		for k, i := range idx {
			vals[k] = x.r.At(i)
		}
		return rangeOf(vals)
	}
	out := make([]Value, len(idx))
	for k, i := range idx {
		out[k] = ev.itemAt(x, i)
	}
	return ev.list(out)
}

func seqLen(x Value) (int64, error) {
	switch x.kind {
	case KList:
		return int64(len(x.l)), nil
	case KString:
		return int64(len([]rune(x.s))), nil
	case KRange:
		return x.r.Len(), nil
	}
	return 0, fmt.Errorf("a %s cannot be indexed", x.Type())
}

func (ev *evaluator) itemAt(x Value, i int64) Value {
	switch x.kind {
	case KString:
		return StringValue(string([]rune(x.s)[i]))
	case KRange:
		return IntValue(x.r.At(i))
	}
	return x.l[i]
}

// sliceIndices computes the indices of x[lo:hi:step] as Python does.
func sliceIndices(n int64, lo, hi, step *int64, max int64) ([]int64, error) {
	st := int64(1)
	if step != nil {
		st = *step
	}
	if st == 0 {
		return nil, fmt.Errorf("slice step cannot be zero")
	}
	clamp := func(p *int64, def int64) int64 {
		if p == nil {
			return def
		}
		v := *p
		if v < 0 {
			v += n
			if v < 0 {
				if st < 0 {
					return -1
				}
				return 0
			}
		}
		if v >= n {
			if st < 0 {
				return n - 1
			}
			return n
		}
		return v
	}
	var out []int64
	if st > 0 {
		a, b := clamp(lo, 0), clamp(hi, n)
		for i := a; i < b; i += st {
			if out = append(out, i); int64(len(out)) > max {
				return nil, errTooBig
			}
			if i > math.MaxInt64-st {
				break
			}
		}
	} else {
		a, b := clamp(lo, n-1), clamp(hi, -1)
		for i := a; i > b; i += st {
			if out = append(out, i); int64(len(out)) > max {
				return nil, errTooBig
			}
			if i < math.MinInt64-st {
				break
			}
		}
	}
	return out, nil
}

// Straight reports whether the expression has no conditionals, and/or,
// calls or comprehensions: whether every operator in it is evaluated
// whatever the values are. A type error found by evaluating such an
// expression with sample values of the right types is then a type error
// for all values.
func (e *Expr) Straight() bool {
	ok := true
	inspect(e.root, func(n Node) bool {
		switch n.(type) {
		case *Cond, *Logic, *Call, *Comp:
			ok = false
		}
		return ok
	})
	return ok
}

// IsTypeError reports whether err says an operator cannot take its
// operands' types.
func IsTypeError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "cannot use '")
}

// LoopVars calls fn with the variable of every list comprehension of the
// expression, so that callers can refuse one that shadows a let binding.
func (e *Expr) LoopVars(fn func(name string)) {
	inspect(e.root, func(n Node) bool {
		if c, ok := n.(*Comp); ok {
			fn(c.Var)
		}
		return true
	})
}

// inspect calls f for n and, while f returns true, for each node below it,
// depth first (as go/ast.Inspect).
func inspect(n Node, f func(Node) bool) {
	if n == nil || !f(n) {
		return
	}
	for _, k := range children(n) {
		inspect(k, f)
	}
}

// children returns the nodes right below n (some may be nil).
func children(n Node) []Node {
	var kids []Node
	switch n := n.(type) {
	case *Attr:
		kids = []Node{n.X}
	case *Call:
		kids = append([]Node{n.Fn}, n.Args...)
	case *Index:
		kids = []Node{n.X, n.I, n.Hi, n.Step}
	case *Unary:
		kids = []Node{n.X}
	case *Binary:
		kids = []Node{n.L, n.R}
	case *Logic:
		kids = []Node{n.L, n.R}
	case *Compare:
		kids = n.X
	case *Cond:
		kids = []Node{n.Test, n.Then, n.Else}
	case *ListLit:
		kids = n.Elems
	case *Comp:
		kids = []Node{n.Iter, n.Elem, n.Filter}
	}
	return kids
}
