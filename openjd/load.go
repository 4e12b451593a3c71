package openjd

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Specification versions of the two template kinds.
const (
	JobTemplateVersion         = "jobtemplate-2023-09"
	EnvironmentTemplateVersion = "environment-2023-09"
)

// Options tune how templates are parsed.
type Options struct {
	// Extensions are the extensions the caller supports. A template that
	// enables any other extension is refused. Defaults to
	// ImplementedExtensions().
	Extensions []Extension
}

func (o Options) withDefaults() Options {
	if o.Extensions == nil {
		o.Extensions = ImplementedExtensions()
	}
	return o
}

// ErrNotTemplate is wrapped by the error of [Check] when the document has no
// specificationVersion of a known template kind.
var ErrNotTemplate = errors.New("not an OpenJD 2023-09 template")

// ParseJobTemplate parses and checks a job template written in YAML or JSON.
// On failure the error is an [Errors] listing every problem found.
func ParseJobTemplate(data []byte, opts Options) (*JobTemplate, error) {
	c, root := newChecker(data, opts)
	if root == nil {
		return nil, c.err()
	}
	t := c.jobTemplate(root)
	if err := c.err(); err != nil {
		return nil, err
	}
	return t, nil
}

// ParseEnvironmentTemplate parses and checks an environment template written
// in YAML or JSON. On failure the error is an [Errors].
func ParseEnvironmentTemplate(data []byte, opts Options) (*EnvironmentTemplate, error) {
	c, root := newChecker(data, opts)
	if root == nil {
		return nil, c.err()
	}
	t := c.environmentTemplate(root)
	if err := c.err(); err != nil {
		return nil, err
	}
	return t, nil
}

// Check parses a template of either kind, chosen by its specificationVersion,
// and returns nil if it is valid.
func Check(data []byte, opts Options) error {
	switch specVersion(data) {
	case JobTemplateVersion:
		_, err := ParseJobTemplate(data, opts)
		return err
	case EnvironmentTemplateVersion:
		_, err := ParseEnvironmentTemplate(data, opts)
		return err
	}
	return Errors{{Path: "specificationVersion", Reason: ErrNotTemplate.Error() + ": expected " +
		JobTemplateVersion + " or " + EnvironmentTemplateVersion}}
}

// specVersion peeks at the specificationVersion of a document, "" if none.
func specVersion(data []byte) string {
	var doc struct {
		V any `yaml:"specificationVersion"`
	}
	if yaml.Unmarshal(data, &doc) != nil {
		return ""
	}
	s, _ := doc.V.(string)
	return s
}

type node = yaml.Node

// checker walks a template's YAML tree, building the model and collecting
// errors. It carries what the rules depend on: enabled extensions, limits
// and the format-string expression parser.
type checker struct {
	collector
	supported []Extension
	ext       extSet
	lim       limits
	exprs     ExprParser
}

func newChecker(data []byte, opts Options) (*checker, *node) {
	opts = opts.withDefaults()
	c := &checker{supported: opts.Extensions, lim: limitsFor(0), exprs: NameParser{}}
	var doc node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		c.errorf("", "not valid YAML or JSON: %v", err)
		return c, nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		c.errorf("", "the document is empty")
		return c, nil
	}
	if tooManyAliases(&doc) {
		c.errorf("", "the document expands to more than %d nodes through YAML aliases", maxExpandedNodes)
		return c, nil
	}
	return c, doc.Content[0]
}

// maxExpandedNodes bounds the size of a document once its YAML aliases are
// expanded, so that a small document of nested aliases (a "billion
// laughs") cannot make the checker walk for ever.
const maxExpandedNodes = 1 << 18

func tooManyAliases(doc *node) bool {
	budget := maxExpandedNodes
	var walk func(n *node) bool
	walk = func(n *node) bool {
		if budget--; budget < 0 {
			return true
		}
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			return walk(n.Alias)
		}
		for _, k := range n.Content {
			if walk(k) {
				return true
			}
		}
		return false
	}
	return walk(doc)
}

// enable records the template's extensions; limits depend on them.
func (c *checker) enable(ext extSet) {
	c.ext = ext
	c.lim = limitsFor(ext)
}

func deref(n *node) *node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func isNull(n *node) bool {
	n = deref(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *node) string {
	n = deref(n)
	switch {
	case n == nil || isNull(n):
		return "null"
	case n.Kind == yaml.MappingNode:
		return "an object"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!bool":
		return "a boolean"
	case "!!int":
		return "an integer"
	case "!!float":
		return "a number"
	}
	return "a string"
}

// object returns the fields of a mapping node. Keys not in allowed are
// reported; objects of the schema are closed.
func (c *checker) object(n *node, path string, allowed ...string) (map[string]*node, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		c.errorf(path, "must be an object, not %s", kindName(n))
		return nil, false
	}
	m := make(map[string]*node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := deref(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			c.errorf(path, "has a key that is not a string")
			continue
		}
		switch {
		case !slices.Contains(allowed, k.Value):
			c.errorf(field(path, k.Value), "unknown field")
		case m[k.Value] != nil:
			c.errorf(field(path, k.Value), "field given twice")
		default:
			m[k.Value] = n.Content[i+1]
		}
	}
	return m, true
}

// require reports each of names missing from m.
func (c *checker) require(m map[string]*node, path string, names ...string) bool {
	ok := true
	for _, name := range names {
		if m[name] == nil {
			c.errorf(field(path, name), "is required")
			ok = false
		}
	}
	return ok
}

// list returns the items of a sequence node holding at least min items.
func (c *checker) list(n *node, path string, min int) ([]*node, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		c.errorf(path, "must be a list, not %s", kindName(n))
		return nil, false
	}
	if len(n.Content) < min {
		c.errorf(path, "must have at least %d element(s)", min)
		return n.Content, false
	}
	return n.Content, true
}

// str reads a string scalar. Bare numbers are taken as their text, as a
// YAML author writing `default: 10` for a STRING parameter means "10".
func (c *checker) str(n *node, path string) (string, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" || n.Tag == "!!bool" {
		c.errorf(path, "must be a string, not %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func isStringNode(n *node) bool {
	n = deref(n)
	return n != nil && n.Kind == yaml.ScalarNode && n.Tag == "!!str"
}

// integer reads a 64-bit integer; intstrings ("42") are accepted when
// allowString is set.
func (c *checker) integer(n *node, path string, allowString bool) (int64, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || !(n.Tag == "!!int" || allowString && n.Tag == "!!str") {
		c.errorf(path, "must be an integer, not %s", kindName(n))
		return 0, false
	}
	v, err := parseInt(n.Value)
	if err != nil {
		c.errorf(path, "%v", err)
		return 0, false
	}
	return v, true
}

func parseInt(s string) (int64, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return 0, errors.New(strconv.Quote(s) + " is outside the 64-bit integer range")
		}
		return 0, errors.New(strconv.Quote(s) + " is not a base-10 integer")
	}
	return v, nil
}

// number reads a finite floating point value (integers included), keeping
// its text; floatstrings are accepted when allowString is set.
func (c *checker) number(n *node, path string, allowString bool) (float64, string, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode ||
		!(n.Tag == "!!int" || n.Tag == "!!float" || allowString && n.Tag == "!!str") {
		c.errorf(path, "must be a number, not %s", kindName(n))
		return 0, "", false
	}
	v, err := parseFloat(n.Value)
	if err != nil {
		c.errorf(path, "%v", err)
		return 0, "", false
	}
	return v, n.Value, true
}

func parseFloat(s string) (float64, error) {
	t := strings.TrimSpace(s)
	v, err := strconv.ParseFloat(t, 64)
	// ParseFloat also takes "inf", "nan" and hex floats; the schema wants a
	// finite base-10 number.
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) || strings.ContainsAny(t, "xXpP_") {
		return 0, errors.New(strconv.Quote(s) + " is not a finite base-10 number")
	}
	return v, nil
}

func (c *checker) boolean(n *node, path string) (bool, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		c.errorf(path, "must be true or false, not %s", kindName(n))
		return false, false
	}
	return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", true
}

// enum reads a string that must be one of values.
func (c *checker) enum(n *node, path string, values ...string) (string, bool) {
	s, ok := c.str(n, path)
	if !ok {
		return "", false
	}
	if !slices.Contains(values, s) {
		c.errorf(path, "%q is not one of %s", s, strings.Join(values, ", "))
		return "", false
	}
	return s, true
}
