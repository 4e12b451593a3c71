package session

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// PathMappingVersion is the version of the path mapping rules format.
const PathMappingVersion = "pathmapping-1.0"

// Path formats of a rule's source path.
const (
	PathFormatPOSIX   = "POSIX"
	PathFormatWindows = "WINDOWS"
)

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
	switch {
	case r.SourcePathFormat != PathFormatPOSIX && r.SourcePathFormat != PathFormatWindows:
		return fmt.Errorf("source_path_format must be %s or %s, not %q", PathFormatPOSIX, PathFormatWindows, r.SourcePathFormat)
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
	if r.SourcePathFormat == PathFormatWindows {
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
	src := strings.TrimRight(r.SourcePath, "/")
	switch {
	case path == src || src == "" && path == "/":
		return "", true
	case strings.HasPrefix(path, src+"/"):
		return strings.TrimLeft(path[len(src):], "/"), true
	}
	return "", false
}
