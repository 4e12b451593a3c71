package expr

import (
	"fmt"
	"math"
	"strings"
)

func unary(op string, x Value) (Value, error) {
	switch {
	case op == "not" && x.kind == KBool:
		return BoolValue(!x.b), nil
	case op == "not":
		return Null, fmt.Errorf("'not' needs a bool, not %s", x.Type())
	case x.kind == KInt && op == "-":
		if x.i == math.MinInt64 {
			return Null, errOverflow
		}
		return IntValue(-x.i), nil
	case x.kind == KFloat && op == "-":
		return FloatValue(-x.f), nil
	case x.kind == KFloat:
		return FloatValue(x.f), nil // an operation: the text as written is not kept
	case x.kind == KInt:
		return x, nil
	}
	return Null, fmt.Errorf("cannot use unary '%s' with %s", op, x.Type())
}

var errOverflow = fmt.Errorf("integer overflow: the result is outside the 64-bit range")

func isNum(v Value) bool { return v.kind == KInt || v.kind == KFloat }

func (ev *evaluator) binary(op string, l, r Value) (Value, error) {
	switch {
	case l.kind == KInt && r.kind == KInt:
		return intOp(op, l.i, r.i)
	case isNum(l) && isNum(r):
		return floatOp(op, l.Float(), r.Float())
	}
	switch op {
	case "+":
		switch {
		case l.kind == KString && (r.kind == KString || r.kind == KRange):
			return ev.concat(l.s, r.String(), KString)
		case l.kind == KRange && r.kind == KString:
			return ev.concat(l.String(), r.s, KString)
		case l.kind == KPath && r.kind == KString:
			return ev.concat(l.s, r.s, KPath)
		case (l.kind == KList || l.kind == KRange) && (r.kind == KList || r.kind == KRange):
			a, b := l.Items(), r.Items()
			if err := ev.work(int64(len(a) + len(b))); err != nil {
				return Null, err
			}
			items := append(append(make([]Value, 0, len(a)+len(b)), a...), b...)
			v, err := ev.list(items)
			if err != nil {
				return Null, fmt.Errorf("cannot concatenate %s and %s", l.Type(), r.Type())
			}
			return v, nil
		}
	case "*":
		if l.kind == KInt && (r.kind == KString || r.kind == KList) {
			l, r = r, l
		}
		if r.kind == KInt && (l.kind == KString || l.kind == KList) {
			return ev.repeat(l, r.i)
		}
	case "/":
		if l.kind == KPath && (r.kind == KString || r.kind == KPath) {
			if err := ev.strWork(len(l.s) + len(r.s)); err != nil {
				return Null, err
			}
			return PathValue(joinPath(l.s, r.s)), nil
		}
	}
	return Null, fmt.Errorf("cannot use '%s' with %s and %s", op, l.Type(), r.Type())
}

func (ev *evaluator) concat(a, b string, k Kind) (Value, error) {
	if err := ev.strWork(len(a) + len(b)); err != nil {
		return Null, err
	}
	if err := ev.alloc(int64(len(a) + len(b))); err != nil {
		return Null, err
	}
	return Value{kind: k, s: a + b}, nil
}

func (ev *evaluator) repeat(x Value, n int64) (Value, error) {
	if n < 0 {
		n = 0
	}
	size := int64(len(x.s))
	if x.kind == KList {
		size = int64(len(x.l)) * 16
	}
	if size > 0 && n > ev.maxBytes/size {
		return Null, fmt.Errorf("the expression builds values larger than %d bytes", ev.maxBytes)
	}
	if err := ev.alloc(size * n); err != nil {
		return Null, err
	}
	if x.kind == KString {
		if err := ev.strWork(int(size * n)); err != nil {
			return Null, err
		}
		return StringValue(strings.Repeat(x.s, int(n))), nil
	}
	if err := ev.work(int64(len(x.l)) * n); err != nil {
		return Null, err
	}
	out := make([]Value, 0, int64(len(x.l))*n)
	for i := int64(0); i < n; i++ {
		out = append(out, x.l...)
	}
	return ListValue(out), nil
}

func intOp(op string, a, b int64) (Value, error) {
	switch op {
	case "+":
		s := a + b
		if (s > a) != (b > 0) {
			return Null, errOverflow
		}
		return IntValue(s), nil
	case "-":
		s := a - b
		if (s < a) != (b > 0) {
			return Null, errOverflow
		}
		return IntValue(s), nil
	case "*":
		if a == 0 || b == 0 {
			return IntValue(0), nil
		}
		p := a * b
		if p/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
			return Null, errOverflow
		}
		return IntValue(p), nil
	case "/":
		if b == 0 {
			return Null, errDivZero
		}
		return checkFloat(float64(a) / float64(b))
	case "//", "%":
		if b == 0 {
			return Null, errDivZero
		}
		if a == math.MinInt64 && b == -1 {
			if op == "%" {
				return IntValue(0), nil
			}
			return Null, errOverflow
		}
		q, m := a/b, a%b
		if m != 0 && (m < 0) != (b < 0) {
			q--
			m += b
		}
		if op == "%" {
			return IntValue(m), nil
		}
		return IntValue(q), nil
	case "**":
		if b < 0 {
			return checkFloat(math.Pow(float64(a), float64(b)))
		}
		r := int64(1)
		base := a
		for e := b; e > 0; e >>= 1 {
			if e&1 == 1 {
				v, err := intOp("*", r, base)
				if err != nil {
					return Null, err
				}
				r = v.i
			}
			if e > 1 {
				v, err := intOp("*", base, base)
				if err != nil {
					return Null, err
				}
				base = v.i
			}
		}
		return IntValue(r), nil
	}
	return Null, fmt.Errorf("unknown operator %s", op)
}

var errDivZero = fmt.Errorf("division by zero")

func floatOp(op string, a, b float64) (Value, error) {
	switch op {
	case "+":
		return checkFloat(a + b)
	case "-":
		return checkFloat(a - b)
	case "*":
		return checkFloat(a * b)
	case "/":
		if b == 0 {
			return Null, errDivZero
		}
		return checkFloat(a / b)
	case "//":
		if b == 0 {
			return Null, errDivZero
		}
		q := math.Floor(a / b)
		if q >= 9.223372036854775807e18 || q < -9.223372036854775808e18 || math.IsNaN(q) {
			return Null, errOverflow
		}
		return IntValue(int64(q)), nil
	case "%":
		if b == 0 {
			return Null, errDivZero
		}
		m := math.Mod(a, b)
		if m != 0 && (m < 0) != (b < 0) {
			m += b
		}
		return checkFloat(m)
	case "**":
		if a == 0 && b < 0 {
			return Null, errDivZero
		}
		return checkFloat(math.Pow(a, b))
	}
	return Null, fmt.Errorf("unknown operator %s", op)
}

// equal is ==: numbers compare by value, strings with paths, lists item
// by item (a range_expr as its list), anything else of different types is
// unequal.
func equal(a, b Value) bool {
	switch {
	case isNum(a) && isNum(b):
		if a.kind == KInt && b.kind == KInt {
			return a.i == b.i
		}
		return a.Float() == b.Float()
	case (a.kind == KString || a.kind == KPath) && (b.kind == KString || b.kind == KPath):
		return a.s == b.s
	case a.kind == KRange && b.kind == KRange:
		return a.r.String() == b.r.String()
	case (a.kind == KList || a.kind == KRange) && (b.kind == KList || b.kind == KRange):
		x, y := a.Items(), b.Items()
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	case a.kind != b.kind:
		return false
	case a.kind == KBool:
		return a.b == b.b
	}
	return a.kind == KNull
}

// order compares a and b for <, returning -1, 0 or 1.
func order(a, b Value) (int, error) {
	switch {
	case isNum(a) && isNum(b):
		if a.kind == KInt && b.kind == KInt {
			return cmp3(a.i < b.i, a.i > b.i), nil
		}
		return cmp3(a.Float() < b.Float(), a.Float() > b.Float()), nil
	case (a.kind == KString || a.kind == KPath) && (b.kind == KString || b.kind == KPath):
		return strings.Compare(a.s, b.s), nil
	case a.kind == KBool && b.kind == KBool:
		return cmp3(!a.b && b.b, a.b && !b.b), nil
	case (a.kind == KList || a.kind == KRange) && (b.kind == KList || b.kind == KRange):
		x, y := a.Items(), b.Items()
		for i := 0; i < len(x) && i < len(y); i++ {
			c, err := order(x[i], y[i])
			if err != nil || c != 0 {
				return c, err
			}
		}
		return cmp3(len(x) < len(y), len(x) > len(y)), nil
	}
	return 0, fmt.Errorf("cannot order %s and %s", a.Type(), b.Type())
}

func cmp3(less, greater bool) int {
	switch {
	case less:
		return -1
	case greater:
		return 1
	}
	return 0
}

func (ev *evaluator) compare(op string, a, b Value) (bool, error) {
	if err := ev.work(1); err != nil {
		return false, err
	}
	switch op {
	case "==", "!=":
		if a.kind == KList || a.kind == KRange {
			if err := ev.work(int64(len(a.l))); err != nil {
				return false, err
			}
		}
		return equal(a, b) == (op == "=="), nil
	case "in", "not in":
		in, err := contains(b, a)
		return in == (op == "in"), err
	}
	c, err := order(a, b)
	if err != nil {
		return false, err
	}
	switch op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	}
	return c >= 0, nil
}

func contains(container, item Value) (bool, error) {
	switch {
	case container.kind == KString && (item.kind == KString || item.kind == KPath):
		return strings.Contains(container.s, item.s), nil
	case container.kind == KRange && item.kind == KInt:
		return container.r.Contains(item.i), nil
	case container.kind == KList:
		for _, x := range container.l {
			if equal(x, item) {
				return true, nil
			}
		}
		return false, nil
	}
	return false, fmt.Errorf("cannot use 'in' with %s and %s", item.Type(), container.Type())
}
