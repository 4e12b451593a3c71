package openjd

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/berth-run/berth/openjd/expr"
)

// LIST job parameters of the EXPR extension (RFC 0007). A list value is
// kept as JSON text, ["a", "b"] or [[1, 2], [3]], the form format strings
// show it in; items are normalized like scalar values of their type.

// List parameter types.
const (
	ParamListString  ParameterType = "LIST[STRING]"
	ParamListPath    ParameterType = "LIST[PATH]"
	ParamListInt     ParameterType = "LIST[INT]"
	ParamListFloat   ParameterType = "LIST[FLOAT]"
	ParamListBool    ParameterType = "LIST[BOOL]"
	ParamListListInt ParameterType = "LIST[LIST[INT]]"
)

// maxListItems bounds the items of a list value, so that a submitted
// value cannot make the job arbitrarily large.
const maxListItems = 10000

var listTypes = []ParameterType{ParamListString, ParamListPath, ParamListInt, ParamListFloat, ParamListBool,
	ParamListListInt}

// IsList reports whether t is a LIST type.
func (t ParameterType) IsList() bool { return strings.HasPrefix(string(t), "LIST[") }

// elem is the item type of a LIST type.
func (t ParameterType) elem() ParameterType {
	return ParameterType(strings.TrimSuffix(strings.TrimPrefix(string(t), "LIST["), "]"))
}

// isPathLike reports whether t's values are paths: PATH and LIST[PATH].
func (t ParameterType) isPathLike() bool { return t == ParamPath || t == ParamListPath }

// ItemConstraints constrain the items of a LIST parameter (its item
// field).
type ItemConstraints struct {
	// AllowedValues of STRING, PATH, INT and FLOAT items, normalized.
	AllowedValues []string
	// MinLength and MaxLength bound the length of STRING and PATH items,
	// and the number of items of LIST[INT] items.
	MinLength, MaxLength *int64
	// MinValue and MaxValue bound INT and FLOAT items.
	MinValue, MaxValue *string
	// Item constrains the items of LIST[INT] items.
	Item *ItemConstraints
}

var itemKeys = map[ParameterType][]string{
	ParamString:  {"allowedValues", "minLength", "maxLength"},
	ParamPath:    {"allowedValues", "minLength", "maxLength"},
	ParamInt:     {"allowedValues", "minValue", "maxValue"},
	ParamFloat:   {"allowedValues", "minValue", "maxValue"},
	ParamListInt: {"minLength", "maxLength", "item"},
}

// itemConstraints reads the item field of a parameter whose items are of
// type t.
func (c *checker) itemConstraints(n *node, path string, t ParameterType) *ItemConstraints {
	keys, ok := itemKeys[t]
	if !ok {
		c.errorf(path, "items of type %s take no constraints", t)
		return nil
	}
	raw, ok := c.object(n, path, keys...)
	if !ok {
		return nil
	}
	ic := &ItemConstraints{}
	numeric := t == ParamInt || t == ParamFloat
	if numeric {
		if v := raw["minValue"]; v != nil {
			if s, _, ok := c.paramValue(t, v, field(path, "minValue")); ok {
				ic.MinValue = &s
			}
		}
		if v := raw["maxValue"]; v != nil {
			if s, _, ok := c.paramValue(t, v, field(path, "maxValue")); ok {
				ic.MaxValue = &s
			}
		}
		if ic.MinValue != nil && ic.MaxValue != nil && numLess(*ic.MaxValue, *ic.MinValue) {
			c.errorf(field(path, "minValue"), "%s is greater than maxValue %s", *ic.MinValue, *ic.MaxValue)
		}
	} else {
		ic.MinLength = c.optNonNegInt(raw["minLength"], field(path, "minLength"))
		ic.MaxLength = c.optNonNegInt(raw["maxLength"], field(path, "maxLength"))
		if ic.MinLength != nil && ic.MaxLength != nil && *ic.MinLength > *ic.MaxLength {
			c.errorf(field(path, "minLength"), "%d is greater than maxLength %d", *ic.MinLength, *ic.MaxLength)
		}
	}
	if v := raw["allowedValues"]; v != nil {
		p := field(path, "allowedValues")
		if items, ok := c.list(v, p, 1); ok {
			bounds := *ic // the allowed values must meet the other constraints
			ic.AllowedValues = []string{}
			for i, it := range items {
				if s, _, ok := c.paramValue(t, it, index(p, i)); ok {
					if err := bounds.checkScalar(t, s); err != nil {
						c.errorf(index(p, i), "%v", err)
					}
					ic.AllowedValues = append(ic.AllowedValues, s)
				}
			}
		}
	}
	if v := raw["item"]; v != nil {
		ic.Item = c.itemConstraints(v, field(path, "item"), t.elem())
	}
	return ic
}

// listDefault reads the default of a LIST parameter, a list in the
// template.
func (c *checker) listDefault(t ParameterType, n *node, path string) (string, bool) {
	r, err := rawFromNode(n)
	if err == nil {
		var v expr.Value
		if v, err = listValue(t, r); err == nil {
			return v.String(), true
		}
	}
	c.errorf(path, "%v", err)
	return "", false
}

// rawItem is a value as written in YAML or JSON: a string, a number (its
// text), a bool, null or a list.
type rawItem struct {
	kind  byte // 's', 'n', 'b', '0' or 'l'
	text  string
	items []rawItem
}

// maxRawDepth bounds the nesting of a value read; list values nest at
// most twice.
const maxRawDepth = 3

func rawFromNode(n *node) (rawItem, error) { return rawFromNodeDepth(n, 0) }

func rawFromNodeDepth(n *node, depth int) (rawItem, error) {
	n = deref(n)
	switch {
	case depth > maxRawDepth:
		return rawItem{}, errors.New("lists nest too deeply")
	case n == nil || isNull(n):
		return rawItem{kind: '0'}, nil
	case n.Kind == yaml.SequenceNode:
		if len(n.Content) > maxListItems {
			return rawItem{}, fmt.Errorf("has %d items, more than the maximum of %d", len(n.Content), maxListItems)
		}
		r := rawItem{kind: 'l', items: make([]rawItem, 0, len(n.Content))}
		for _, k := range n.Content {
			it, err := rawFromNodeDepth(k, depth+1)
			if err != nil {
				return rawItem{}, err
			}
			r.items = append(r.items, it)
		}
		return r, nil
	case n.Kind != yaml.ScalarNode:
		return rawItem{}, fmt.Errorf("must be a list, not %s", kindName(n))
	}
	switch n.Tag {
	case "!!int", "!!float":
		return rawItem{kind: 'n', text: n.Value}, nil
	case "!!bool":
		b, _ := expr.ParseBool(n.Value)
		return rawItem{kind: 'b', text: strconv.FormatBool(b)}, nil
	}
	return rawItem{kind: 's', text: n.Value}, nil
}

// rawFromJSON reads a submitted list value, JSON text.
func rawFromJSON(s string) (rawItem, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return rawItem{}, fmt.Errorf("%q is not a JSON list: %v", s, err)
	}
	if d.More() {
		return rawItem{}, fmt.Errorf("%q is not a JSON list: text after the value", s)
	}
	return rawFromAny(v, 0)
}

func rawFromAny(v any, depth int) (rawItem, error) {
	if depth > maxRawDepth {
		return rawItem{}, errors.New("lists nest too deeply")
	}
	switch v := v.(type) {
	case nil:
		return rawItem{kind: '0'}, nil
	case string:
		return rawItem{kind: 's', text: v}, nil
	case json.Number:
		return rawItem{kind: 'n', text: v.String()}, nil
	case bool:
		return rawItem{kind: 'b', text: strconv.FormatBool(v)}, nil
	case []any:
		if len(v) > maxListItems {
			return rawItem{}, fmt.Errorf("has %d items, more than the maximum of %d", len(v), maxListItems)
		}
		r := rawItem{kind: 'l', items: make([]rawItem, 0, len(v))}
		for _, x := range v {
			it, err := rawFromAny(x, depth+1)
			if err != nil {
				return rawItem{}, err
			}
			r.items = append(r.items, it)
		}
		return r, nil
	}
	return rawItem{}, errors.New("must be a list of values, not an object")
}

func (r rawItem) describe() string {
	switch r.kind {
	case 's':
		return "a string"
	case 'n':
		return "a number"
	case 'b':
		return "a boolean"
	case 'l':
		return "a list"
	}
	return "null"
}

// listValue converts a value as written to a value of LIST type t.
func listValue(t ParameterType, r rawItem) (expr.Value, error) {
	if r.kind != 'l' {
		return expr.Null, fmt.Errorf("must be a list, not %s", r.describe())
	}
	et := t.elem()
	items := make([]expr.Value, 0, len(r.items))
	for i, it := range r.items {
		v, err := itemValue(et, it)
		if err != nil {
			return expr.Null, fmt.Errorf("item %d: %w", i, err)
		}
		items = append(items, v)
	}
	return expr.ListValue(items), nil
}

// itemValue converts one item to a value of type t, accepting the
// spellings the scalar parameter of that type accepts.
func itemValue(t ParameterType, r rawItem) (expr.Value, error) {
	if t.IsList() {
		return listValue(t, r)
	}
	if r.kind == 'l' || r.kind == '0' {
		return expr.Null, fmt.Errorf("must be a %s value, not %s", strings.ToLower(string(t)), r.describe())
	}
	switch t {
	case ParamInt:
		if r.kind == 'b' {
			return expr.Null, errors.New("must be an integer, not a boolean")
		}
		n, err := parseInt(r.text)
		if err != nil {
			return expr.Null, err
		}
		return expr.IntValue(n), nil
	case ParamFloat:
		if r.kind == 'b' {
			return expr.Null, errors.New("must be a number, not a boolean")
		}
		f, err := parseFloat(r.text)
		if err != nil {
			return expr.Null, err
		}
		if t := strings.TrimSpace(r.text); json.Valid([]byte(t)) {
			return expr.FromText("float", t) // keeps the text as written
		}
		// Text such as "00" or "+1.5" that would not read back from the
		// list's JSON form is shown as computed.
		return expr.FloatValue(f), nil
	case ParamBool:
		b, ok := expr.ParseBool(r.text)
		if !ok {
			return expr.Null, fmt.Errorf("%q is not a boolean", r.text)
		}
		return expr.BoolValue(b), nil
	}
	// STRING and PATH items are strings: a number or a bool is the wrong
	// item type (RFC 0007: a list of <string>).
	if r.kind != 's' {
		return expr.Null, fmt.Errorf("must be a string, not %s", r.describe())
	}
	if t == ParamPath {
		return expr.PathValue(r.text), nil
	}
	return expr.StringValue(r.text), nil
}

// parseList reads a list value from its JSON text.
func parseList(t ParameterType, s string) (expr.Value, error) {
	r, err := rawFromJSON(s)
	if err != nil {
		return expr.Null, err
	}
	return listValue(t, r)
}

// checkList applies a LIST parameter's constraints to a value.
func (d *ParameterDefinition) checkList(v expr.Value) error {
	return checkListValue(v, d.Type, d.MinLength, d.MaxLength, d.Item)
}

// check applies item constraints to an item of type t.
func (ic *ItemConstraints) check(t ParameterType, v expr.Value) error {
	if !t.IsList() {
		return ic.checkScalar(t, v.String())
	}
	return checkListValue(v, t, ic.MinLength, ic.MaxLength, ic.Item)
}

// checkListValue applies length limits and item constraints to a list of
// type t, at any depth.
func checkListValue(v expr.Value, t ParameterType, minLen, maxLen *int64, item *ItemConstraints) error {
	n := int64(len(v.Items()))
	if minLen != nil && n < *minLen {
		return fmt.Errorf("has %d items, fewer than minLength %d", n, *minLen)
	}
	if maxLen != nil && n > *maxLen {
		return fmt.Errorf("has %d items, more than maxLength %d", n, *maxLen)
	}
	if item == nil {
		return nil
	}
	for i, it := range v.Items() {
		if err := item.check(t.elem(), it); err != nil {
			return fmt.Errorf("item %d: %w", i, err)
		}
	}
	return nil
}

// checkScalar applies item constraints to a scalar item, given as text.
func (ic *ItemConstraints) checkScalar(t ParameterType, s string) error {
	d := ParameterDefinition{Type: t, AllowedValues: ic.AllowedValues, MinLength: ic.MinLength,
		MaxLength: ic.MaxLength, MinValue: ic.MinValue, MaxValue: ic.MaxValue}
	return d.checkValue(s)
}

// mergeItems combines the item constraints of two definitions into the
// narrowest; ok is false if no value can satisfy them.
func mergeItems(t ParameterType, a, b *ItemConstraints) (*ItemConstraints, error) {
	switch {
	case a == nil:
		return b, nil
	case b == nil:
		return a, nil
	}
	m := &ItemConstraints{
		MinLength: maxPtr(a.MinLength, b.MinLength, false),
		MaxLength: maxPtr(a.MaxLength, b.MaxLength, true),
		MinValue:  maxNum(a.MinValue, b.MinValue, false),
		MaxValue:  maxNum(a.MaxValue, b.MaxValue, true),
	}
	switch {
	case a.AllowedValues == nil:
		m.AllowedValues = b.AllowedValues
	case b.AllowedValues == nil:
		m.AllowedValues = a.AllowedValues
	default:
		m.AllowedValues = slices.DeleteFunc(slices.Clone(a.AllowedValues), func(v string) bool {
			return !slices.ContainsFunc(b.AllowedValues, func(w string) bool { return sameValue(t, v, w) })
		})
		if len(m.AllowedValues) == 0 {
			return nil, errors.New("the item definitions have no allowed value in common")
		}
	}
	if m.MinLength != nil && m.MaxLength != nil && *m.MinLength > *m.MaxLength {
		return nil, fmt.Errorf("merged item minLength %d is greater than merged item maxLength %d", *m.MinLength, *m.MaxLength)
	}
	if m.MinValue != nil && m.MaxValue != nil && numLess(*m.MaxValue, *m.MinValue) {
		return nil, fmt.Errorf("merged item minValue %s is greater than merged item maxValue %s", *m.MinValue, *m.MaxValue)
	}
	var err error
	if m.Item, err = mergeItems(t.elem(), a.Item, b.Item); err != nil {
		return nil, err
	}
	return m, nil
}

// joinListPaths joins the relative items of a LIST[PATH] value (its JSON
// text) with dir; as a default (isDefault), each item must be relative and
// stay inside dir.
func joinListPaths(s, dir string, isDefault bool) (string, error) {
	v, err := parseList(ParamListPath, s)
	if err != nil {
		return "", err
	}
	items := make([]expr.Value, 0, len(v.Items()))
	for i, it := range v.Items() {
		p := it.String()
		switch {
		case filepath.IsAbs(p) && isDefault:
			return "", fmt.Errorf("item %d: %q is absolute; a PATH default must be relative to the template's directory", i, p)
		case filepath.IsAbs(p):
		case isDefault:
			joined := filepath.Join(dir, p)
			if !within(dir, joined) {
				return "", fmt.Errorf("item %d: %q leads outside the template's directory", i, p)
			}
			p = joined
		default:
			p = filepath.Join(dir, p)
		}
		items = append(items, expr.PathValue(p))
	}
	return expr.ListValue(items).String(), nil
}

// within reports whether path p is dir or inside it.
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// MappedValue returns the value with m applied to a PATH value, or to
// each item of a LIST[PATH] value: Param.<name> on a worker host.
func (p ParameterValue) MappedValue(m func(string) string) string {
	switch p.Type {
	case ParamPath:
		return m(p.Value)
	case ParamListPath:
		v, err := parseList(ParamListPath, p.Value)
		if err != nil {
			return p.Value
		}
		items := make([]expr.Value, len(v.Items()))
		for i, it := range v.Items() {
			items[i] = expr.PathValue(m(it.String()))
		}
		return expr.ListValue(items).String()
	}
	return p.Value
}
