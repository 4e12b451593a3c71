package expr

import (
	"fmt"
	"regexp"
	"strings"
)

// Paths follow Python's PurePosixPath; URIs (scheme://) keep their scheme
// and authority as an opaque root and are not normalized.

var uriRe = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*`)

// splitPath returns the root ("/", a URI prefix, or "") and the parts.
func splitPath(p string) (string, []string) {
	if m := uriRe.FindString(p); m != "" {
		rest := strings.TrimPrefix(p[len(m):], "/")
		if rest == "" {
			return m, nil
		}
		return m, strings.Split(strings.TrimSuffix(rest, "/"), "/")
	}
	root := ""
	if strings.HasPrefix(p, "/") {
		root = "/"
	}
	var parts []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			parts = append(parts, s)
		}
	}
	return root, parts
}

func buildPath(root string, parts []string) string {
	if uriRe.MatchString(root) {
		if len(parts) == 0 {
			return root
		}
		return root + "/" + strings.Join(parts, "/")
	}
	s := root + strings.Join(parts, "/")
	if s == "" {
		return "."
	}
	return s
}

func cleanPath(p string) string { return buildPath(splitPath(p)) }

func joinPath(a, b string) string {
	if strings.HasPrefix(b, "/") || uriRe.MatchString(b) {
		return cleanPath(b)
	}
	ra, pa := splitPath(a)
	_, pb := splitPath(b)
	return buildPath(ra, append(pa[:len(pa):len(pa)], pb...))
}

func pathName(p string) string {
	_, parts := splitPath(p)
	if len(parts) == 0 {
		return ""
	}
	return parts[len(parts)-1]
}

func pathSuffix(name string) string {
	i := strings.LastIndex(name, ".")
	if i > 0 && i < len(name)-1 {
		return name[i:]
	}
	return ""
}

func pathStem(name string) string {
	return strings.TrimSuffix(name, pathSuffix(name))
}

func (ev *evaluator) property(v Value, name string) (Value, error) {
	if err := ev.work(1); err != nil {
		return Null, err
	}
	if v.kind != KPath {
		return Null, fmt.Errorf("%s has no property %q", v.Type(), name)
	}
	root, parts := splitPath(v.s)
	n := pathName(v.s)
	switch name {
	case "name":
		return StringValue(n), nil
	case "stem":
		return StringValue(pathStem(n)), nil
	case "suffix":
		return StringValue(pathSuffix(n)), nil
	case "suffixes":
		out := []Value{}
		if !strings.HasSuffix(n, ".") {
			for _, s := range strings.Split(strings.TrimLeft(n, "."), ".")[1:] {
				out = append(out, StringValue("."+s))
			}
		}
		return ListValue(out), nil
	case "parent":
		if len(parts) == 0 {
			return v, nil
		}
		return PathValue(buildPath(root, parts[:len(parts)-1])), nil
	case "parts":
		out := []Value{}
		if root != "" {
			out = append(out, StringValue(root))
		}
		for _, p := range parts {
			out = append(out, StringValue(p))
		}
		return ListValue(out), nil
	}
	return Null, fmt.Errorf("path has no property %q", name)
}

// withNumber replaces the frame number pattern of a file name's stem
// (digits, %d, %0Nd or ####) with n, or appends _NNNN.
var numberRe = regexp.MustCompile(`(%0?(\d*)d|#+|\d+)`)

func withNumber(p string, n int64) (string, error) {
	dir, name := "", p
	if i := strings.LastIndex(p, "/"); i >= 0 {
		dir, name = p[:i+1], p[i+1:]
	}
	stem, suf := pathStem(name), pathSuffix(name)
	locs := numberRe.FindAllStringSubmatchIndex(stem, -1)
	if len(locs) == 0 {
		return dir + stem + fmt.Sprintf("_%04d", n) + suf, nil
	}
	m := locs[len(locs)-1]
	pat := stem[m[0]:m[1]]
	width := len(pat)
	if strings.HasPrefix(pat, "%") {
		width = 0
		if m[4] >= 0 && m[5] > m[4] {
			fmt.Sscan(stem[m[4]:m[5]], &width)
		}
	}
	if width > 32 {
		return "", fmt.Errorf("padding wider than 32 characters")
	}
	return dir + stem[:m[0]] + fmt.Sprintf("%0*d", width, n) + stem[m[1]:] + suf, nil
}
