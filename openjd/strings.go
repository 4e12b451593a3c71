package openjd

import (
	"strings"
	"unicode/utf8"
)

// Character rules shared by the string types of the schema. Lengths are in
// characters (code points), as the specification counts them.

func isCc(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }

func hasCc(s string) bool {
	return strings.IndexFunc(s, isCc) >= 0
}

func isLatinLetter(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func isIdentStart(r rune) bool { return isLatinLetter(r) || r == '_' }

func isIdentChar(r rune) bool { return isIdentStart(r) || isDigit(r) }

// isIdentifier reports whether s is an <Identifier> ignoring its length.
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if i == 0 && !isIdentStart(r) || !isIdentChar(r) {
			return false
		}
	}
	return true
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }

// checkIdentifier validates an <Identifier> (7.1).
func (c *checker) checkIdentifier(s, path string) bool {
	switch {
	case s == "":
		c.errorf(path, "must not be empty")
	case !isIdentifier(s):
		c.errorf(path, "%q is not an identifier: use latin letters, digits and '_', not starting with a digit", s)
	case runeLen(s) > c.lim.identifier:
		c.errorf(path, "is %d characters long, more than the maximum of %d", runeLen(s), c.lim.identifier)
	default:
		return true
	}
	return false
}

// checkName validates a name made of any characters but the Cc category,
// 1 to max characters long (job, step, environment names, UI labels).
func (c *checker) checkName(s, path string, max int) {
	switch {
	case s == "":
		c.errorf(path, "must not be empty")
	case hasCc(s):
		c.errorf(path, "must not contain control characters")
	case runeLen(s) > max:
		c.errorf(path, "is %d characters long, more than the maximum of %d", runeLen(s), max)
	}
}

// checkDescription validates a <Description> (7.2): like a name but newline,
// carriage return and tab are allowed.
func (c *checker) checkDescription(s, path string) {
	bad := strings.IndexFunc(s, func(r rune) bool { return isCc(r) && r != '\n' && r != '\r' && r != '\t' }) >= 0
	switch {
	case s == "":
		c.errorf(path, "must not be empty")
	case bad:
		c.errorf(path, "must not contain control characters other than newline, carriage return and tab")
	case runeLen(s) > maxDescription:
		c.errorf(path, "is %d characters long, more than the maximum of %d", runeLen(s), maxDescription)
	}
}
