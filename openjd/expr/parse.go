package expr

import (
	"slices"
	"strconv"
	"strings"
)

// Node is a node of the syntax tree.
type Node interface{ pos() int }

type (
	// Const is a literal.
	Const struct {
		P int
		V Value
	}
	// Name is a dotted name, Param.Frame or a local x: a variable, maybe
	// followed by properties (Param.File.stem).
	Name struct {
		P     int
		Parts []string
	}
	// Attr is a property of a computed value, (a / b).name.
	Attr struct {
		P    int
		X    Node
		Name string
	}
	// Call is f(args) or, with a Name of several parts or an Attr as Fn,
	// the method call x.f(args).
	Call struct {
		P    int
		Fn   Node
		Args []Node
	}
	// Index is x[i], or x[lo:hi:step] when Slice is set.
	Index struct {
		P           int
		X           Node
		I, Hi, Step Node // Hi and Step only for slices; nil if omitted
		Slice       bool
	}
	// Unary is -x, +x or not x.
	Unary struct {
		P  int
		Op string
		X  Node
	}
	// Binary is an arithmetic operator.
	Binary struct {
		P    int
		Op   string
		L, R Node
	}
	// Compare is a chain a < b <= c.
	Compare struct {
		P   int
		Ops []string // "<", "in", "not in", ...
		X   []Node   // len(Ops)+1 operands
	}
	// Logic is "and" or "or" over two operands.
	Logic struct {
		P    int
		Op   string
		L, R Node
	}
	// Cond is Then if Test else Else.
	Cond struct {
		P                int
		Then, Test, Else Node
	}
	// ListLit is [a, b, c].
	ListLit struct {
		P     int
		Elems []Node
	}
	// Comp is [Elem for Var in Iter if Filter].
	Comp struct {
		P      int
		Elem   Node
		Var    string
		Iter   Node
		Filter Node // nil if none
	}
)

func (n *Const) pos() int   { return n.P }
func (n *Name) pos() int    { return n.P }
func (n *Attr) pos() int    { return n.P }
func (n *Call) pos() int    { return n.P }
func (n *Index) pos() int   { return n.P }
func (n *Unary) pos() int   { return n.P }
func (n *Binary) pos() int  { return n.P }
func (n *Compare) pos() int { return n.P }
func (n *Logic) pos() int   { return n.P }
func (n *Cond) pos() int    { return n.P }
func (n *ListLit) pos() int { return n.P }
func (n *Comp) pos() int    { return n.P }

// MaxDepth bounds the nesting of an expression, so that hostile input
// cannot exhaust the stack of the parser or the evaluator.
const MaxDepth = 100

// Expr is a parsed expression.
type Expr struct {
	src  string
	root Node
}

// String returns the source text.
func (e *Expr) String() string { return e.src }

// Root returns the syntax tree.
func (e *Expr) Root() Node { return e.root }

// Parse parses an expression.
func Parse(src string) (*Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.cond()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, errAt(t.pos, "unexpected %s", describe(t))
	}
	return &Expr{src: src, root: n}, nil
}

type parser struct {
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

// isOp reports whether t is one of the operator tokens ops.
func (t token) isOp(ops ...string) bool {
	return t.kind == tOp && slices.Contains(ops, t.text)
}
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// is reports whether the next token is the operator or keyword s.
func (p *parser) is(s string) bool {
	t := p.peek()
	return (t.kind == tOp || t.kind == tIdent) && t.text == s
}

func (p *parser) accept(s string) bool {
	if p.is(s) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expect(s string) error {
	if !p.accept(s) {
		t := p.peek()
		return errAt(t.pos, "expected '%s', found %s", s, describe(t))
	}
	return nil
}

func describe(t token) string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return "'" + t.text + "'"
}

// keywords cannot be names where an operand is expected; after a dot they
// are ordinary attribute names (Param.if).
var keywords = map[string]bool{"if": true, "else": true, "and": true, "or": true, "not": true, "for": true,
	"in": true, "lambda": true, "is": true}

func (p *parser) enter() error {
	if p.depth++; p.depth > MaxDepth {
		return errAt(p.peek().pos, "expression is nested more than %d deep", MaxDepth)
	}
	return nil
}

func (p *parser) cond() (Node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	then, err := p.or()
	if err != nil || !p.is("if") {
		return then, err
	}
	pos := p.next().pos
	test, err := p.or()
	if err != nil {
		return nil, err
	}
	if err := p.expect("else"); err != nil {
		return nil, err
	}
	els, err := p.cond()
	if err != nil {
		return nil, err
	}
	return &Cond{P: pos, Then: then, Test: test, Else: els}, nil
}

func (p *parser) or() (Node, error)  { return p.logic("or", p.and) }
func (p *parser) and() (Node, error) { return p.logic("and", p.not) }

func (p *parser) logic(op string, sub func() (Node, error)) (Node, error) {
	l, err := sub()
	for err == nil && p.is(op) {
		pos := p.next().pos
		var r Node
		if r, err = sub(); err == nil {
			l = &Logic{P: pos, Op: op, L: l, R: r}
		}
	}
	return l, err
}

func (p *parser) not() (Node, error) {
	if !p.is("not") {
		return p.compare()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	pos := p.next().pos
	x, err := p.not()
	if err != nil {
		return nil, err
	}
	return &Unary{P: pos, Op: "not", X: x}, nil
}

func (p *parser) compare() (Node, error) {
	x, err := p.add()
	if err != nil {
		return nil, err
	}
	c := &Compare{P: x.pos(), X: []Node{x}}
	for {
		t := p.peek()
		var op string
		switch {
		case t.kind == tOp && (t.text == "<" || t.text == ">" || t.text == "<=" || t.text == ">=" || t.text == "==" || t.text == "!="):
			op = t.text
			p.next()
		case p.is("in"):
			op = "in"
			p.next()
		case p.is("not") && p.toks[p.i+1].kind == tIdent && p.toks[p.i+1].text == "in":
			op = "not in"
			p.i += 2
		case p.is("is"):
			return nil, errAt(t.pos, "'is' is not supported; use == or !=")
		}
		if op == "" {
			break
		}
		y, err := p.add()
		if err != nil {
			return nil, err
		}
		c.Ops = append(c.Ops, op)
		c.X = append(c.X, y)
	}
	if len(c.Ops) == 0 {
		return x, nil
	}
	return c, nil
}

func (p *parser) binary(opsHere []string, sub func() (Node, error)) (Node, error) {
	l, err := sub()
	for err == nil {
		t := p.peek()
		found := false
		for _, op := range opsHere {
			if t.kind == tOp && t.text == op {
				found = true
			}
		}
		if !found {
			break
		}
		p.next()
		var r Node
		if r, err = sub(); err == nil {
			l = &Binary{P: t.pos, Op: t.text, L: l, R: r}
		}
	}
	return l, err
}

func (p *parser) add() (Node, error) { return p.binary([]string{"+", "-"}, p.mul) }
func (p *parser) mul() (Node, error) { return p.binary([]string{"*", "/", "//", "%"}, p.unary) }

func (p *parser) unary() (Node, error) {
	t := p.peek()
	if t.kind != tOp || t.text != "-" && t.text != "+" {
		return p.power()
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	p.next()
	if lit := p.peek(); t.text == "-" && lit.minAbs && p.i+1 < len(p.toks) && !p.toks[p.i+1].isOp("**", "[", "(", ".") {
		// The literal is in range only negated; fold the sign into it.
		p.next()
		return &Const{P: t.pos, V: IntValue(lit.ival)}, nil
	}
	x, err := p.unary()
	if err != nil {
		return nil, err
	}
	return &Unary{P: t.pos, Op: t.text, X: x}, nil
}

func (p *parser) power() (Node, error) {
	x, err := p.postfix()
	if err != nil || !p.is("**") {
		return x, err
	}
	pos := p.next().pos
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	y, err := p.unary() // right-associative, and 2 ** -1 is allowed
	if err != nil {
		return nil, err
	}
	return &Binary{P: pos, Op: "**", L: x, R: y}, nil
}

func (p *parser) postfix() (Node, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for steps := 0; ; steps++ {
		if steps > MaxDepth {
			return nil, errAt(p.peek().pos, "expression is nested more than %d deep", MaxDepth)
		}
		t := p.peek()
		switch {
		case p.is("."):
			p.next()
			id := p.next()
			if id.kind != tIdent {
				return nil, errAt(id.pos, "expected a name after '.', found %s", describe(id))
			}
			if n, ok := x.(*Name); ok {
				n.Parts = append(n.Parts, id.text)
			} else {
				x = &Attr{P: id.pos, X: x, Name: id.text}
			}
		case p.is("("):
			p.next()
			args, err := p.items(")")
			if err != nil {
				return nil, err
			}
			x = &Call{P: t.pos, Fn: x, Args: args}
		case p.is("["):
			p.next()
			ix, err := p.subscript(t.pos, x)
			if err != nil {
				return nil, err
			}
			x = ix
		default:
			return x, nil
		}
	}
}

// items parses comma-separated expressions up to the closing token.
func (p *parser) items(end string) ([]Node, error) {
	var out []Node
	for !p.accept(end) {
		if len(out) > 0 {
			if err := p.expect(","); err != nil {
				return nil, err
			}
			if p.accept(end) {
				break
			}
		}
		if p.is("*") || p.is("**") {
			return nil, errAt(p.peek().pos, "argument unpacking is not supported")
		}
		x, err := p.cond()
		if err != nil {
			return nil, err
		}
		if p.is("=") {
			return nil, errAt(p.peek().pos, "keyword arguments are not supported")
		}
		out = append(out, x)
	}
	return out, nil
}

func (p *parser) subscript(pos int, x Node) (Node, error) {
	ix := &Index{P: pos, X: x}
	var err error
	if !p.is(":") {
		if ix.I, err = p.cond(); err != nil {
			return nil, err
		}
	}
	if p.accept(":") {
		ix.Slice = true
		if !p.is(":") && !p.is("]") {
			if ix.Hi, err = p.cond(); err != nil {
				return nil, err
			}
		}
		if p.accept(":") && !p.is("]") {
			if ix.Step, err = p.cond(); err != nil {
				return nil, err
			}
		}
	}
	if err := p.expect("]"); err != nil {
		return nil, err
	}
	if !ix.Slice && ix.I == nil {
		return nil, errAt(pos, "empty subscript")
	}
	return ix, nil
}

func (p *parser) primary() (Node, error) {
	t := p.next()
	switch t.kind {
	case tInt:
		if t.minAbs {
			return nil, errAt(t.pos, "integer literal %s is out of the 64-bit range", t.text)
		}
		return &Const{P: t.pos, V: IntValue(t.ival)}, nil
	case tFloat:
		f, _ := strconv.ParseFloat(strings.ReplaceAll(t.text, "_", ""), 64)
		return &Const{P: t.pos, V: Value{kind: KFloat, f: normZero(f), s: floatLiteralText(t.text)}}, nil
	case tString:
		s := t.sval
		// Adjacent literals concatenate, as in Python.
		for p.peek().kind == tString {
			s += p.next().sval
		}
		return &Const{P: t.pos, V: StringValue(s)}, nil
	case tIdent:
		switch t.text {
		case "True", "true":
			return &Const{P: t.pos, V: BoolValue(true)}, nil
		case "False", "false":
			return &Const{P: t.pos, V: BoolValue(false)}, nil
		case "None", "null":
			return &Const{P: t.pos, V: Null}, nil
		}
		if keywords[t.text] {
			return nil, errAt(t.pos, "unexpected '%s'", t.text)
		}
		return &Name{P: t.pos, Parts: []string{t.text}}, nil
	case tOp:
		switch t.text {
		case "(":
			if p.is(")") {
				return nil, errAt(t.pos, "tuples are not supported")
			}
			x, err := p.cond()
			if err != nil {
				return nil, err
			}
			if p.is(",") {
				return nil, errAt(p.peek().pos, "tuples are not supported")
			}
			return x, p.expect(")")
		case "[":
			return p.list(t.pos)
		}
	}
	return nil, errAt(t.pos, "unexpected %s", describe(t))
}

func (p *parser) list(pos int) (Node, error) {
	if p.accept("]") {
		return &ListLit{P: pos}, nil
	}
	first, err := p.cond()
	if err != nil {
		return nil, err
	}
	if !p.is("for") {
		l := &ListLit{P: pos, Elems: []Node{first}}
		if !p.accept("]") {
			if err := p.expect(","); err != nil {
				return nil, err
			}
			rest, err := p.items("]")
			if err != nil {
				return nil, err
			}
			l.Elems = append(l.Elems, rest...)
		}
		return l, nil
	}
	p.next()
	v := p.next()
	if v.kind != tIdent || keywords[v.text] || !isUserIdent(v.text) {
		return nil, errAt(v.pos, "the loop variable must be a name starting with a lowercase letter or '_'")
	}
	if err := p.expect("in"); err != nil {
		return nil, err
	}
	c := &Comp{P: pos, Elem: first, Var: v.text}
	// The iterable is an or-expression so that a following "if" starts
	// the filter, as in Python.
	if c.Iter, err = p.or(); err != nil {
		return nil, err
	}
	if p.accept("if") {
		if c.Filter, err = p.or(); err != nil {
			return nil, err
		}
	}
	if p.is("for") || p.is("if") {
		return nil, errAt(p.peek().pos, "only one 'for' and one 'if' are allowed in a list comprehension")
	}
	return c, p.expect("]")
}

// isUserIdent reports whether s is a <UserIdentifier>, a name template
// authors may bind: it starts with a lowercase letter or underscore.
func isUserIdent(s string) bool {
	if s == "" || !(s[0] == '_' || s[0] >= 'a' && s[0] <= 'z') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentChar(s[i]) {
			return false
		}
	}
	return true
}

// IsUserIdent reports whether s may be bound by a let binding or a list
// comprehension: [a-z_][A-Za-z0-9_]*.
func IsUserIdent(s string) bool { return isUserIdent(s) }
