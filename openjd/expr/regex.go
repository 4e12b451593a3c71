package expr

import (
	"fmt"
	"regexp"
	"strings"
)

// Regular expressions take the syntax common to Python's re and Rust's
// regex (RFC 0006): what only one of them has is refused, and the
// classes \d, \w and \s match Unicode, as Python's do (\w is the
// characters of isalnum and '_', \s those of isspace). goPattern rewrites
// such a pattern for Go's regexp.
func goPattern(pat string) (string, error) {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch {
		case c == '[' && !inClass:
			inClass = true
			b.WriteByte(c)
			// A ] right after [ or [^ is a literal.
			if strings.HasPrefix(pat[i+1:], "^") {
				b.WriteByte('^')
				i++
			}
			if strings.HasPrefix(pat[i+1:], "]") {
				b.WriteString(`\]`)
				i++
			}
			continue
		case c == ']' && inClass:
			inClass = false
		}
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(pat) {
			return "", fmt.Errorf("the pattern ends with a lone backslash")
		}
		e := pat[i+1]
		i++
		switch e {
		case 'z', 'Z':
			return "", fmt.Errorf(`the anchor \%c is not supported; use $`, e)
		case 'A', 'G', 'Q', 'E', 'C', 'p', 'P', 'K', 'R', 'X', 'h', 'H', 'V', 'N':
			if e == 'A' { // in both Python and Rust
				b.WriteString(`\A`)
				continue
			}
			return "", fmt.Errorf(`\%c is not supported`, e)
		case 'x', 'u', 'U':
			width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if strings.HasPrefix(pat[i+1:], "{") {
				return "", fmt.Errorf(`\%c{...} is not supported; use \%c with %d hex digits`, e, e, width)
			}
			hex := pat[i+1 : min(len(pat), i+1+width)]
			if len(hex) != width || strings.Trim(hex, "0123456789abcdefABCDEF") != "" {
				return "", fmt.Errorf(`\%c needs %d hex digits`, e, width)
			}
			fmt.Fprintf(&b, `\x{%s}`, hex)
			i += width
		case 'd':
			b.WriteString(classOr(inClass, `\p{Nd}`))
		case 'D':
			b.WriteString(classOr(inClass, `\P{Nd}`))
		case 'w':
			b.WriteString(classOr(inClass, `\p{L}\p{N}_`))
		case 's':
			b.WriteString(classOr(inClass, `\s\v\p{Z}\x{85}\x{1c}-\x{1f}`))
		case 'W', 'S':
			if inClass {
				return "", fmt.Errorf(`\%c is not supported inside a character class`, e)
			}
			if e == 'W' {
				b.WriteString(`[^\p{L}\p{N}_]`)
			} else {
				b.WriteString(`[^\s\v\p{Z}\x{85}\x{1c}-\x{1f}]`)
			}
		default:
			if e >= '1' && e <= '9' {
				return "", fmt.Errorf(`backreferences (\%c) are not supported`, e)
			}
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	if strings.Contains(pat, "(?=") || strings.Contains(pat, "(?!") || strings.Contains(pat, "(?<=") || strings.Contains(pat, "(?<!") {
		return "", fmt.Errorf("lookaround is not supported")
	}
	if strings.Contains(pat, "(?P=") || strings.Contains(pat, "(?(") {
		return "", fmt.Errorf("backreferences and conditionals are not supported")
	}
	return b.String(), nil
}

// classOr is the set s as a class of its own, or inside the class being
// written.
func classOr(inClass bool, s string) string {
	if inClass {
		return s
	}
	return "[" + s + "]"
}

// compileRegex compiles a pattern of the common syntax.
func compileRegex(pat string) (*regexp.Regexp, error) {
	if pat == "" {
		return nil, fmt.Errorf("the pattern must not be empty")
	}
	g, err := goPattern(pat)
	if err == nil {
		var re *regexp.Regexp
		if re, err = regexp.Compile(g); err == nil {
			return re, nil
		}
	}
	return nil, fmt.Errorf("bad pattern %q: %v", pat, err)
}

// checkReplacement refuses group references in a re_sub replacement,
// which is literal text (RFC 0006): \1, \g<1>, $1 and ${1}.
func checkReplacement(repl string) error {
	for i := 0; i+1 < len(repl); i++ {
		c, d := repl[i], repl[i+1]
		switch {
		case c == '\\' && (d >= '0' && d <= '9' || d == 'g' && strings.HasPrefix(repl[i+2:], "<")),
			c == '$' && (d >= '0' && d <= '9' || d == '{'):
			return fmt.Errorf("the replacement %q holds a group reference; re_sub's replacement is literal text", repl)
		}
	}
	return nil
}
