package expr

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a syntax or evaluation error; Col is the 1-based column (in
// bytes) of the expression text where it was found, 0 if unknown.
type Error struct {
	Col int
	Msg string
}

func (e *Error) Error() string {
	if e.Col > 0 {
		return fmt.Sprintf("column %d: %s", e.Col, e.Msg)
	}
	return e.Msg
}

func errAt(pos int, format string, args ...any) *Error {
	return &Error{Col: pos + 1, Msg: fmt.Sprintf(format, args...)}
}

type tokKind uint8

const (
	tEOF tokKind = iota
	tIdent
	tInt
	tFloat
	tString
	tOp
)

type token struct {
	kind tokKind
	pos  int    // byte offset in the source
	text string // identifier, operator, or the literal as written
	ival int64
	sval string // decoded string literal
	// minAbs marks the decimal literal 9223372036854775808, valid only
	// negated: -9223372036854775808 is the smallest int.
	minAbs bool
}

// ops are the operator tokens, longest first so that "**" wins over "*".
var ops = []string{"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "<", ">", "(", ")", "[", "]", ",", ".", ":"}

// lex splits src into tokens. Newlines are plain whitespace: the language
// continues lines implicitly.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case isDigit(c) || c == '.' && i+1 < len(src) && isDigit(src[i+1]):
			t, n, err := lexNumber(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = n
			continue
		case c == '"' || c == '\'' || (c == 'r' || c == 'R') && i+1 < len(src) && (src[i+1] == '"' || src[i+1] == '\''):
			t, n, err := lexString(src, i)
			if err != nil {
				return nil, err
			}
			toks = append(toks, t)
			i = n
			continue
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && isIdentChar(src[j]) {
				j++
			}
			toks = append(toks, token{kind: tIdent, pos: i, text: src[i:j]})
			i = j
			continue
		}
		matched := false
		for _, op := range ops {
			if strings.HasPrefix(src[i:], op) {
				toks = append(toks, token{kind: tOp, pos: i, text: op})
				i += len(op)
				matched = true
				break
			}
		}
		if !matched {
			r, _ := utf8.DecodeRuneInString(src[i:])
			return nil, errAt(i, "unexpected character %q", r)
		}
	}
	return append(toks, token{kind: tEOF, pos: len(src)}), nil
}

func isDigit(c byte) bool      { return c >= '0' && c <= '9' }
func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isIdentChar(c byte) bool  { return isIdentStart(c) || isDigit(c) }

// digitsEnd returns the end of a run of digits accepted by ok, with single
// underscores between digits; an underscore elsewhere is an error.
func digitsEnd(src string, i int, ok func(byte) bool) (int, error) {
	start := i
	for i < len(src) {
		switch {
		case ok(src[i]):
			i++
		case src[i] == '_' && i > start && i+1 < len(src) && ok(src[i+1]):
			i++
		case src[i] == '_':
			return 0, errAt(i, "misplaced '_' in a number")
		default:
			return i, nil
		}
	}
	return i, nil
}

func lexNumber(src string, start int) (token, int, error) {
	i := start
	if src[i] == '0' && i+1 < len(src) && strings.ContainsRune("xXoObB", rune(src[i+1])) {
		base, ok := 16, func(c byte) bool { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }
		switch src[i+1] {
		case 'o', 'O':
			base, ok = 8, func(c byte) bool { return c >= '0' && c <= '7' }
		case 'b', 'B':
			base, ok = 2, func(c byte) bool { return c == '0' || c == '1' }
		}
		j := i + 2
		if j < len(src) && src[j] == '_' {
			j++
		}
		end, err := digitsEnd(src, j, ok)
		if err != nil {
			return token{}, 0, err
		}
		if end == j || end < len(src) && isIdentChar(src[end]) {
			return token{}, 0, errAt(start, "invalid number literal")
		}
		v, err := strconv.ParseInt(strings.ReplaceAll(src[j:end], "_", ""), base, 64)
		if err != nil {
			return token{}, 0, errAt(start, "integer literal %s is out of the 64-bit range", src[start:end])
		}
		return token{kind: tInt, pos: start, text: src[start:end], ival: v}, end, nil
	}
	end, err := digitsEnd(src, i, isDigit)
	if err != nil {
		return token{}, 0, err
	}
	isFloat := false
	if end < len(src) && src[end] == '.' {
		isFloat = true
		end++
		if end < len(src) && src[end] == '_' {
			return token{}, 0, errAt(end, "misplaced '_' in a number")
		}
		if end < len(src) && isDigit(src[end]) {
			if end, err = digitsEnd(src, end, isDigit); err != nil {
				return token{}, 0, err
			}
		}
	}
	if end < len(src) && (src[end] == 'e' || src[end] == 'E') {
		j := end + 1
		if j < len(src) && (src[j] == '+' || src[j] == '-') {
			j++
		}
		if j < len(src) && isDigit(src[j]) {
			isFloat = true
			if end, err = digitsEnd(src, j, isDigit); err != nil {
				return token{}, 0, err
			}
		}
	}
	if end < len(src) && isIdentChar(src[end]) {
		return token{}, 0, errAt(start, "invalid number literal")
	}
	text := src[start:end]
	clean := strings.ReplaceAll(text, "_", "")
	if isFloat {
		f, err := strconv.ParseFloat(clean, 64)
		if err != nil || math.IsInf(f, 0) {
			return token{}, 0, errAt(start, "float literal %s is out of range", text)
		}
		return token{kind: tFloat, pos: start, text: text}, end, nil
	}
	if len(clean) > 1 && clean[0] == '0' && strings.Trim(clean, "0") != "" {
		return token{}, 0, errAt(start, "leading zeros are not allowed in %s; use 0o for octal", text)
	}
	v, err := strconv.ParseInt(clean, 10, 64)
	if err != nil && strings.TrimLeft(clean, "0") == "9223372036854775808" {
		return token{kind: tInt, pos: start, text: text, ival: math.MinInt64, minAbs: true}, end, nil
	}
	if err != nil {
		return token{}, 0, errAt(start, "integer literal %s is out of the 64-bit range", text)
	}
	return token{kind: tInt, pos: start, text: text, ival: v}, end, nil
}

func lexString(src string, start int) (token, int, error) {
	i := start
	raw := false
	if src[i] == 'r' || src[i] == 'R' {
		raw = true
		i++
	}
	q := src[i : i+1]
	if strings.HasPrefix(src[i:], q+q+q) {
		q = q + q + q
	}
	i += len(q)
	var b strings.Builder
	for {
		if i >= len(src) {
			return token{}, 0, errAt(start, "unterminated string literal")
		}
		if strings.HasPrefix(src[i:], q) {
			i += len(q)
			break
		}
		c := src[i]
		if c == '\n' && len(q) == 1 {
			return token{}, 0, errAt(start, "unterminated string literal")
		}
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(src) {
			return token{}, 0, errAt(start, "unterminated string literal")
		}
		if raw {
			// A raw string keeps the backslash, and it still protects the
			// quote that follows.
			b.WriteString(src[i : i+2])
			i += 2
			continue
		}
		n, err := unescape(src, i, &b)
		if err != nil {
			return token{}, 0, err
		}
		i = n
	}
	return token{kind: tString, pos: start, text: src[start:i], sval: b.String()}, i, nil
}

// unescape decodes the escape sequence at src[i] (a backslash) into b.
func unescape(src string, i int, b *strings.Builder) (int, error) {
	c := src[i+1]
	simple := map[byte]string{'\\': "\\", '\'': "'", '"': "\"", 'n': "\n", 'r': "\r", 't': "\t",
		'a': "\a", 'b': "\b", 'f': "\f", 'v': "\v", '0': "\x00", '\n': ""}
	if s, ok := simple[c]; ok && !(c == '0' && i+2 < len(src) && src[i+2] >= '0' && src[i+2] <= '7') {
		b.WriteString(s)
		return i + 2, nil
	}
	width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[c]
	if width == 0 {
		if c == 'N' {
			return unescapeName(src, i, b)
		}
		// Python keeps unknown escapes as written.
		b.WriteByte('\\')
		return i + 1, nil
	}
	if i+2+width > len(src) {
		return 0, errAt(i, "truncated \\%c escape", c)
	}
	v, err := strconv.ParseUint(src[i+2:i+2+width], 16, 32)
	if err != nil || v > utf8.MaxRune {
		return 0, errAt(i, "invalid \\%c escape", c)
	}
	b.WriteRune(rune(v))
	return i + 2 + width, nil
}

// unescapeName decodes the \N{name} escape at src[i].
func unescapeName(src string, i int, b *strings.Builder) (int, error) {
	if i+2 >= len(src) || src[i+2] != '{' {
		return 0, errAt(i, `malformed \N character escape: expected \N{name}`)
	}
	end := strings.IndexByte(src[i+3:], '}')
	if end < 0 {
		return 0, errAt(i, `malformed \N character escape: no closing }`)
	}
	name := src[i+3 : i+3+end]
	r, ok := lookupRuneName(name)
	if !ok || name == "" {
		return 0, errAt(i, "unknown Unicode character name %q", name)
	}
	b.WriteRune(r)
	return i + 4 + end, nil
}
