package expr

import (
	"strconv"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/unicode/runenames"
)

// The names of \N{name} escapes, built on the first use: the Unicode
// table maps runes to names only.
var (
	runeNamesOnce sync.Once
	runeByName    map[string]rune
)

// lookupRuneName finds the character a \N{name} escape names, in any case
// as Python's unicodedata.lookup does, including the names computed from
// the code point (CJK UNIFIED IDEOGRAPH-4E00) and Hangul syllables.
func lookupRuneName(name string) (rune, bool) {
	name = strings.ToUpper(strings.TrimSpace(name))
	// Names computed from the code point: the table holds a placeholder
	// such as "<CJK Ideograph Extension A>" for them.
	for prefix, placeholder := range map[string]string{"CJK UNIFIED IDEOGRAPH-": "<CJK Ideograph", "TANGUT IDEOGRAPH-": "<Tangut Ideograph"} {
		if hex, ok := strings.CutPrefix(name, prefix); ok {
			v, err := strconv.ParseUint(hex, 16, 32)
			if err != nil || len(hex) < 4 || len(hex) > 5 || v > unicode.MaxRune {
				return 0, false
			}
			return rune(v), strings.HasPrefix(runenames.Name(rune(v)), placeholder)
		}
	}
	runeNamesOnce.Do(func() {
		runeByName = make(map[string]rune, 40000)
		for r := rune(0); r <= unicode.MaxRune; r++ {
			if r >= 0xD800 && r <= 0xDFFF {
				continue
			}
			if n := runenames.Name(r); n != "" && n[0] != '<' {
				runeByName[n] = r
			}
		}
	})
	if r, ok := runeByName[name]; ok {
		return r, true
	}
	return hangulSyllable(name)
}

// hangulSyllable computes a Hangul syllable from its name (Unicode 3.12).
func hangulSyllable(name string) (rune, bool) {
	rest, ok := strings.CutPrefix(name, "HANGUL SYLLABLE ")
	if !ok || rest == "" {
		return 0, false
	}
	leads := []string{"G", "GG", "N", "D", "DD", "R", "M", "B", "BB", "S", "SS", "", "J", "JJ", "C", "K", "T", "P", "H"}
	vowels := []string{"A", "AE", "YA", "YAE", "EO", "E", "YEO", "YE", "O", "WA", "WAE", "OE", "YO", "U", "WEO", "WE", "WI", "YU", "EU", "YI", "I"}
	tails := []string{"", "G", "GG", "GS", "N", "NJ", "NH", "D", "L", "LG", "LM", "LB", "LS", "LT", "LP", "LH", "M", "B", "BS", "S", "SS", "NG", "J", "C", "K", "T", "P", "H"}
	for l, ls := range leads {
		for v, vs := range vowels {
			for t, ts := range tails {
				if ls+vs+ts == rest {
					return rune(0xAC00 + (l*21+v)*28 + t), true
				}
			}
		}
	}
	return 0, false
}
