package openjd

import (
	"slices"
	"strings"
)

// Extension names an optional part of the specification that a template
// enables through its extensions list.
type Extension string

// The extensions berth knows by name. Only those returned by
// [ImplementedExtensions] are implemented.
const (
	TaskChunking     Extension = "TASK_CHUNKING"
	RedactedEnvVars  Extension = "REDACTED_ENV_VARS"
	FeatureBundle1   Extension = "FEATURE_BUNDLE_1"
	ExprExtension    Extension = "EXPR"
	WrapActions      Extension = "WRAP_ACTIONS"
	extensionUnknown Extension = ""
)

// ImplementedExtensions are the extensions this package implements. They are
// the default for [Options.Extensions].
func ImplementedExtensions() []Extension {
	return []Extension{TaskChunking, RedactedEnvVars, FeatureBundle1, ExprExtension, WrapActions}
}

// LookupExtension returns the implemented extension named name, in any
// case.
func LookupExtension(name string) (Extension, bool) {
	for _, e := range ImplementedExtensions() {
		if strings.EqualFold(name, string(e)) {
			return e, true
		}
	}
	return "", false
}

// extSet is the set of extensions a template enables.
type extSet uint8

func (s extSet) has(e Extension) bool { return s&extBit(e) != 0 }

func extBit(e Extension) extSet {
	switch e {
	case TaskChunking:
		return 1
	case RedactedEnvVars:
		return 2
	case FeatureBundle1:
		return 4
	case ExprExtension:
		return 8
	case WrapActions:
		return 16
	}
	return 0
}

// checkExtensions reads the template's extensions list. Unknown names, and
// known ones the caller did not say it supports, are errors: a template that
// needs a feature the runner lacks must be refused, not half-run.
func (c *checker) checkExtensions(n *node, path string, supported []Extension) extSet {
	var set extSet
	items, ok := c.list(n, path, 1)
	if !ok {
		return 0
	}
	for i, it := range items {
		p := index(path, i)
		name, ok := c.str(it, p)
		if !ok {
			continue
		}
		e := Extension(name)
		bit := extBit(e)
		switch {
		case bit == 0:
			c.errorf(p, "unknown extension %q", name)
		case !slices.Contains(supported, e):
			c.errorf(p, "extension %s is not supported", name)
		case set&bit != 0:
			c.errorf(p, "extension %s is listed twice", name)
		default:
			set |= bit
		}
	}
	if set.has(WrapActions) && !set.has(ExprExtension) {
		// Wrap hooks can only forward a command line safely with EXPR's
		// quoting functions (RFC 0008).
		c.errorf(path, "WRAP_ACTIONS needs the EXPR extension")
	}
	return set
}
