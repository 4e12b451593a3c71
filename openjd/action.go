package openjd

import (
	"fmt"
	"strings"

	"github.com/berth-run/berth/openjd/expr"

	"go.yaml.in/yaml/v3"
)

// Action is a command run on a worker host (Template Schemas 5).
type Action struct {
	Command FormatString
	Args    []FormatString
	// Timeout in seconds; nil means no limit.
	Timeout *IntOrFormat
	// Cancelation is nil for the default, TERMINATE.
	Cancelation *Cancelation
}

// Cancelation says how a running action is canceled.
type Cancelation struct {
	// Mode is TERMINATE or NOTIFY_THEN_TERMINATE; empty when ModeFormat
	// is set.
	Mode string
	// ModeFormat is the mode given as a format string (FEATURE_BUNDLE_1),
	// resolved when the action runs; see ResolveMode.
	ModeFormat *FormatString
	// NotifyPeriodInSeconds is nil for the default: 120 s for a step's
	// onRun, 30 s otherwise.
	NotifyPeriodInSeconds *IntOrFormat
}

// ResolveMode returns the cancelation mode, evaluating ModeFormat with
// scope if it is set. ok is false when a whole-field expression yields
// null: then the action has no cancelation at all, since the mode is
// the object's required discriminator (RFC 0008, with EXPR).
func (c *Cancelation) ResolveMode(scope Scope) (mode string, ok bool, err error) {
	if c.ModeFormat == nil {
		return c.Mode, true, nil
	}
	if scope == nil {
		scope = MapScope{}
	}
	v, err := c.ModeFormat.Value(scope)
	if err != nil {
		return "", false, err
	}
	if v.Kind() == expr.KNull {
		return "", false, nil
	}
	switch m := v.Format(); m {
	case "TERMINATE", "NOTIFY_THEN_TERMINATE":
		return m, true, nil
	default:
		return "", false, fmt.Errorf("%q resolves to %q, not TERMINATE or NOTIFY_THEN_TERMINATE", c.ModeFormat.String(), m)
	}
}

// IntOrFormat is an integer field that FEATURE_BUNDLE_1 also lets be a
// format string resolved when the job is created.
type IntOrFormat struct {
	Value  int64
	Format *FormatString // set when the field is a format string
}

// Resolve returns the value, evaluating the format string with scope (the
// job's parameter values) if there is one.
func (v IntOrFormat) Resolve(scope Scope) (int64, error) {
	n, ok, err := v.ResolveOptional(scope)
	if err == nil && !ok {
		err = fmt.Errorf("%q resolves to null", v.Format.String())
	}
	return n, err
}

// ResolveOptional is Resolve for an optional field: with EXPR, a format
// string that is one expression evaluating to null leaves the field out
// (ok false), as if it were not given (RFC 0005).
func (v IntOrFormat) ResolveOptional(scope Scope) (n int64, ok bool, err error) {
	if v.Format == nil {
		return v.Value, true, nil
	}
	if scope == nil {
		scope = MapScope{}
	}
	val, err := v.Format.Value(scope)
	if err != nil {
		return 0, false, err
	}
	switch val.Kind() {
	case expr.KNull:
		return 0, false, nil
	case expr.KInt:
		return val.Int(), true, nil
	}
	n, err = parseInt(val.Format())
	if err != nil {
		return 0, false, fmt.Errorf("%q resolves to %w", v.Format.String(), err)
	}
	return n, true, nil
}

// EmbeddedFile is a text file written to the session directory before an
// action runs (Template Schemas 6).
type EmbeddedFile struct {
	Name     string
	Filename string // empty: the runtime picks a name
	Runnable bool
	Data     FormatString
	// EndOfLine is AUTO, LF or CRLF (FEATURE_BUNDLE_1); empty if not given.
	EndOfLine string
}

// scopes are the symbol tables of one script: host holds what format
// strings evaluated on the worker see; job what those resolved at job
// creation see (FEATURE_BUNDLE_1 timeout and notify period).
type scopes struct {
	host, job symbols
}

var actionKeys = []string{"command", "args", "timeout", "cancelation"}

func (c *checker) action(n *node, path string, sc scopes) *Action {
	raw, ok := c.object(n, path, actionKeys...)
	if !ok || !c.require(raw, path, "command") {
		return nil
	}
	a := &Action{}
	p := field(path, "command")
	if f, ok := c.format(raw["command"], p, sc.host); ok {
		if f.String() == "" {
			c.errorf(p, "must not be empty")
		}
		if hasCc(f.String()) {
			c.errorf(p, "must not contain control characters")
		}
		a.Command = f
	}
	a.Args = c.args(raw["args"], field(path, "args"), sc.host)
	c.actionCommon(raw, path, sc, &a.Timeout, &a.Cancelation)
	return a
}

func (c *checker) args(n *node, path string, syms symbols) []FormatString {
	if n == nil {
		return nil
	}
	items, _ := c.list(n, path, 0)
	out := make([]FormatString, 0, len(items))
	for i, it := range items {
		p := index(path, i)
		// The schema forbids control characters in args, but multi-line
		// scripts passed as arguments ("python -c ...") are common and the
		// conformance suite accepts them, so they are allowed.
		if f, ok := c.format(it, p, syms); ok {
			out = append(out, f)
		}
	}
	return out
}

// actionCommon reads timeout and cancelation, shared by actions and the
// FEATURE_BUNDLE_1 simple actions.
func (c *checker) actionCommon(raw map[string]*node, path string, sc scopes, timeout **IntOrFormat, cancel **Cancelation) {
	if v := raw["timeout"]; v != nil {
		*timeout = c.intOrFormat(v, field(path, "timeout"), sc.job, 1, 0)
	}
	if v := raw["cancelation"]; v != nil {
		*cancel = c.cancelation(v, field(path, "cancelation"), sc)
	}
}

func (c *checker) cancelation(n *node, path string, sc scopes) *Cancelation {
	raw, ok := c.object(n, path, "mode", "notifyPeriodInSeconds")
	if !ok || !c.require(raw, path, "mode") {
		return nil
	}
	cn := &Cancelation{}
	mn := raw["mode"]
	isFormat := isStringNode(mn) && isFormatString(deref(mn).Value)
	if isFormat && !c.ext.has(FeatureBundle1) {
		c.errorf(field(path, "mode"), "must be TERMINATE or NOTIFY_THEN_TERMINATE; a format string here needs the FEATURE_BUNDLE_1 extension")
		return nil
	}
	if isFormat {
		// The mode may be a format string, resolved when the action runs
		// (FEATURE_BUNDLE_1, Template Schemas 5.3): a wrap hook forwards
		// the wrapped action's this way.
		f, ok := c.formatText(deref(mn).Value, field(path, "mode"), sc.job)
		if !ok {
			return nil
		}
		cn.ModeFormat = &f
	} else {
		mode, ok := c.enum(mn, field(path, "mode"), "TERMINATE", "NOTIFY_THEN_TERMINATE")
		if !ok {
			return nil
		}
		cn.Mode = mode
	}
	if v := raw["notifyPeriodInSeconds"]; v != nil {
		p := field(path, "notifyPeriodInSeconds")
		if cn.ModeFormat == nil && cn.Mode != "NOTIFY_THEN_TERMINATE" {
			c.errorf(p, "is only allowed with mode NOTIFY_THEN_TERMINATE")
		} else {
			cn.NotifyPeriodInSeconds = c.intOrFormat(v, p, sc.job, 1, maxNotifyPeriod)
		}
	}
	return cn
}

// intOrFormat reads an integer in [min, max] (max 0: no maximum), or with
// FEATURE_BUNDLE_1 a format string or intstring.
func (c *checker) intOrFormat(n *node, path string, syms symbols, min, max int64) *IntOrFormat {
	if isStringNode(n) {
		if !c.ext.has(FeatureBundle1) {
			c.errorf(path, "must be an integer; a string here needs the FEATURE_BUNDLE_1 extension")
			return nil
		}
		s := deref(n).Value
		if isFormatString(s) {
			f, ok := c.formatText(s, path, syms)
			if !ok {
				return nil
			}
			return &IntOrFormat{Format: &f}
		}
	}
	v, ok := c.integer(n, path, c.ext.has(FeatureBundle1))
	if !ok {
		return nil
	}
	if v < min || max > 0 && v > max {
		if max > 0 {
			c.errorf(path, "%d is outside [%d, %d]", v, min, max)
		} else {
			c.errorf(path, "%d is less than the minimum of %d", v, min)
		}
		return nil
	}
	return &IntOrFormat{Value: v}
}

// fileNames peeks at the names of a list of embedded files, so that the
// files' own data can reference each other (Task.File.X, Env.File.X).
func fileNames(n *node) []string {
	var names []string
	n = deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	for _, it := range n.Content {
		it = deref(it)
		if it == nil || it.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(it.Content); i += 2 {
			if it.Content[i].Value == "name" && isIdentifier(it.Content[i+1].Value) {
				names = append(names, it.Content[i+1].Value)
			}
		}
	}
	return names
}

func (c *checker) embeddedFiles(n *node, path string, syms symbols) []EmbeddedFile {
	items, ok := c.list(n, path, 1)
	if !ok {
		return nil
	}
	var files []EmbeddedFile
	seen := map[string]bool{}
	for i, it := range items {
		p := index(path, i)
		raw, ok := c.object(it, p, "name", "type", "filename", "runnable", "data", "endOfLine")
		if !ok || !c.require(raw, p, "name", "type", "data") {
			continue
		}
		var f EmbeddedFile
		if c.identField(raw["name"], field(p, "name"), &f.Name) {
			if seen[f.Name] {
				c.errorf(field(p, "name"), "embedded file %s is defined twice", f.Name)
			}
			seen[f.Name] = true
		}
		c.enum(raw["type"], field(p, "type"), "TEXT")
		if v := raw["filename"]; v != nil {
			f.Filename = c.filename(v, field(p, "filename"))
		}
		if v := raw["runnable"]; v != nil {
			f.Runnable, _ = c.boolean(v, field(p, "runnable"))
		}
		if d, ok := c.format(raw["data"], field(p, "data"), syms); ok {
			if d.String() == "" {
				c.errorf(field(p, "data"), "must not be empty")
			}
			f.Data = d
		}
		if v := raw["endOfLine"]; v != nil {
			if !c.ext.has(FeatureBundle1) {
				c.errorf(field(p, "endOfLine"), "needs the FEATURE_BUNDLE_1 extension")
			} else {
				f.EndOfLine, _ = c.enum(v, field(p, "endOfLine"), "AUTO", "LF", "CRLF")
			}
		}
		files = append(files, f)
	}
	return files
}

// filename checks a <Filename>: a base name, no directories.
func (c *checker) filename(n *node, path string) string {
	s, ok := c.str(n, path)
	if !ok {
		return ""
	}
	switch {
	case s == "":
		c.errorf(path, "must not be empty")
	case runeLen(s) > c.lim.filename:
		c.errorf(path, "is %d characters long, more than the maximum of %d", runeLen(s), c.lim.filename)
	case strings.ContainsAny(s, `/\`):
		c.errorf(path, "must be a file name without directories")
	case hasCc(s) || s == "." || s == "..":
		c.errorf(path, "%q is not a valid file name", s)
	}
	return s
}
