package openjd

import (
	"errors"
	"fmt"
	"strings"
)

// Combination is a parsed combination expression (Template Schemas 3.4.3):
// the tree that says how a step's task parameters combine into tasks.
// It is one of [ComboParam], [ComboProduct] or [ComboZip].
type Combination interface {
	// Params calls fn with each task parameter name, left to right.
	Params(fn func(name string))
	String() string
}

// ComboParam is a task parameter by name.
type ComboParam struct{ Name string }

// ComboProduct is A * B * ...: every combination of its terms' values, the
// rightmost term varying fastest.
type ComboProduct struct{ Terms []Combination }

// ComboZip is (A, B, ...): its items' values taken pairwise; the items must
// have the same number of values.
type ComboZip struct{ Items []Combination }

// Params implements Combination.
func (c ComboParam) Params(fn func(string)) { fn(c.Name) }

// Params implements Combination.
func (c ComboProduct) Params(fn func(string)) {
	for _, t := range c.Terms {
		t.Params(fn)
	}
}

// Params implements Combination.
func (c ComboZip) Params(fn func(string)) {
	for _, t := range c.Items {
		t.Params(fn)
	}
}

func (c ComboParam) String() string { return c.Name }

func (c ComboProduct) String() string { return joinCombos(c.Terms, " * ") }

func (c ComboZip) String() string { return "(" + joinCombos(c.Items, ", ") + ")" }

func joinCombos(cs []Combination, sep string) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = c.String()
	}
	return strings.Join(parts, sep)
}

// maxComboDepth bounds parenthesis nesting, so hostile input cannot exhaust
// the stack.
const maxComboDepth = 64

// ParseCombination parses a combination expression.
func ParseCombination(s string) (Combination, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("combination expression is empty")
	}
	for _, r := range s {
		if !isIdentChar(r) && !strings.ContainsRune(" *(),", r) {
			return nil, fmt.Errorf("character %q is not allowed in a combination expression", r)
		}
	}
	p := comboParser{s: s}
	c, err := p.product(0)
	if err != nil {
		return nil, err
	}
	if p.next() != "" {
		return nil, fmt.Errorf("unexpected %q at offset %d", p.tok, p.at)
	}
	return c, nil
}

type comboParser struct {
	s   string
	i   int
	tok string // the last token returned by next
	at  int    // its offset
	// peeked holds a token pushed back by unread.
	peeked bool
}

// next returns the next token: an identifier, one of "*(),", or "" at end.
func (p *comboParser) next() string {
	if p.peeked {
		p.peeked = false
		return p.tok
	}
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
	p.at = p.i
	if p.i == len(p.s) {
		p.tok = ""
		return ""
	}
	if strings.IndexByte("*(),", p.s[p.i]) >= 0 {
		p.i++
	} else {
		for p.i < len(p.s) && strings.IndexByte(" *(),", p.s[p.i]) < 0 {
			p.i++
		}
	}
	p.tok = p.s[p.at:p.i]
	return p.tok
}

func (p *comboParser) unread() { p.peeked = true }

func (p *comboParser) product(depth int) (Combination, error) {
	var terms []Combination
	for {
		t, err := p.element(depth)
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
		if p.next() != "*" {
			p.unread()
			break
		}
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return ComboProduct{Terms: terms}, nil
}

func (p *comboParser) element(depth int) (Combination, error) {
	tok := p.next()
	switch {
	case tok == "(":
		if depth >= maxComboDepth {
			return nil, errors.New("combination expression is nested too deeply")
		}
		var items []Combination
		for {
			it, err := p.product(depth + 1)
			if err != nil {
				return nil, err
			}
			items = append(items, it)
			switch p.next() {
			case ",":
				continue
			case ")":
			default:
				return nil, p.unexpected("',' or ')'")
			}
			break
		}
		if len(items) == 1 {
			return items[0], nil // plain grouping
		}
		return ComboZip{Items: items}, nil
	case isIdentifier(tok):
		return ComboParam{Name: tok}, nil
	}
	return nil, p.unexpected("a task parameter name or '('")
}

func (p *comboParser) unexpected(want string) error {
	if p.tok == "" {
		return fmt.Errorf("expected %s at the end", want)
	}
	return fmt.Errorf("expected %s at offset %d, found %q", want, p.at, p.tok)
}
