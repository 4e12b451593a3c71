package session

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// PathMappingVersion is the version of the path mapping rules format.
const PathMappingVersion = "pathmapping-1.0"

// Path formats of a rule's source path, matched in any case. A URI rule
// (EXPR) maps URIs such as s3://bucket/prefix.
const (
	PathFormatPOSIX   = "POSIX"
	PathFormatWindows = "WINDOWS"
	PathFormatURI     = "URI"
)

// uriPrefix matches the scheme and authority of a URI.
var uriPrefix = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*`)

// PathMappingRule maps paths under SourcePath, written in the submitting
// host's SourcePathFormat, to DestinationPath on this host.
type PathMappingRule struct {
	SourcePathFormat string `json:"source_path_format"`
	SourcePath       string `json:"source_path"`
	DestinationPath  string `json:"destination_path"`
}

// PathMappingRules is the document of the pathmapping-1.0 format.
type PathMappingRules struct {
	Version string            `json:"version"`
	Rules   []PathMappingRule `json:"path_mapping_rules"`
}

// ParsePathMappingRules reads a pathmapping-1.0 document (JSON; YAML is
// read by the caller and given as JSON).
func ParsePathMappingRules(data []byte) ([]PathMappingRule, error) {
	var doc struct {
		Version *string            `json:"version"`
		Rules   *[]PathMappingRule `json:"path_mapping_rules"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("path mapping rules: %w", err)
	}
	if doc.Version == nil || *doc.Version != PathMappingVersion {
		return nil, fmt.Errorf("path mapping rules: version must be %q", PathMappingVersion)
	}
	if doc.Rules == nil {
		return nil, fmt.Errorf("path mapping rules: path_mapping_rules must be a list")
	}
	for i, r := range *doc.Rules {
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("path mapping rules: path_mapping_rules[%d]: %w", i, err)
		}
	}
	return *doc.Rules, nil
}

func (r PathMappingRule) validate() error {
	switch f := r.format(); {
	case f != PathFormatPOSIX && f != PathFormatWindows && f != PathFormatURI:
		return fmt.Errorf("source_path_format must be %s, %s or %s, not %q", PathFormatPOSIX, PathFormatWindows, PathFormatURI, r.SourcePathFormat)
	case f == PathFormatURI && !uriPrefix.MatchString(r.SourcePath):
		return fmt.Errorf("source_path %q of a URI rule is not a URI (scheme://authority/path)", r.SourcePath)
	case r.SourcePath == "":
		return fmt.Errorf("source_path is required")
	case r.DestinationPath == "":
		return fmt.Errorf("destination_path is required")
	}
	return nil
}

// pathMapper applies rules longest source path first; the first rule that
// matches a path decides.
type pathMapper struct {
	rules []PathMappingRule
}

func newPathMapper(rules []PathMappingRule) *pathMapper {
	sorted := append([]PathMappingRule(nil), rules...)
	sort.SliceStable(sorted, func(i, j int) bool { return len(sorted[i].SourcePath) > len(sorted[j].SourcePath) })
	return &pathMapper{rules: sorted}
}

// Map returns path mapped by the first matching rule, or path unchanged.
func (m *pathMapper) Map(path string) string {
	for _, r := range m.rules {
		if rest, ok := r.match(path); ok {
			dest := strings.TrimRight(r.DestinationPath, `/\`)
			if dest == "" {
				dest = string(filepath.Separator)
			}
			if rest == "" {
				return r.DestinationPath
			}
			return filepath.Join(dest, filepath.FromSlash(rest))
		}
	}
	return path
}

// match reports whether path is the rule's source path or below it, and
// returns the rest of the path with forward slashes.
func (r PathMappingRule) match(path string) (string, bool) {
	switch r.format() {
	case PathFormatURI:
		return r.matchURI(path)
	case PathFormatWindows:
		src := strings.ToLower(strings.TrimRight(strings.ReplaceAll(r.SourcePath, "/", `\`), `\`))
		p := strings.ReplaceAll(path, "/", `\`)
		lp := strings.ToLower(p)
		switch {
		case lp == src:
			return "", true
		case strings.HasPrefix(lp, src+`\`):
			return strings.ReplaceAll(strings.TrimLeft(p[len(src):], `\`), `\`, "/"), true
		}
		return "", false
	}
	if uriPrefix.MatchString(path) {
		return "", false // a URI is not a path of the host
	}
	src := strings.TrimRight(r.SourcePath, "/")
	switch {
	case path == src || src == "" && path == "/":
		return "", true
	case strings.HasPrefix(path, src+"/"):
		return strings.TrimLeft(path[len(src):], "/"), true
	}
	return "", false
}

func (r PathMappingRule) format() string { return strings.ToUpper(r.SourcePathFormat) }

// matchURI matches a URI rule: the scheme and authority compare without
// regard to ASCII case (RFC 3986), the path exactly and by whole
// components.
func (r PathMappingRule) matchURI(path string) (string, bool) {
	sp := uriPrefix.FindString(r.SourcePath)
	pp := uriPrefix.FindString(path)
	if pp == "" || !asciiEqualFold(sp, pp) {
		return "", false
	}
	src := strings.TrimRight(r.SourcePath[len(sp):], "/")
	rest := path[len(pp):]
	switch {
	case rest == src || rest == src+"/":
		return "", true
	case strings.HasPrefix(rest, src+"/"):
		return strings.TrimLeft(rest[len(src):], "/"), true
	}
	return "", false
}

// asciiEqualFold is strings.EqualFold for ASCII letters only, so that no
// other character (the Kelvin sign) folds into one.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
