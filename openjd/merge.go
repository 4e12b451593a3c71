package openjd

import (
	"github.com/berth-run/berth/openjd/expr"

	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MergeParameterDefinitions merges the job parameter definitions of
// environment templates (in the order given) and of a job template (last),
// as Template Schemas 1.2.1 describes: definitions of one name must agree
// on the type (and, for PATH, on objectType and dataFlow); their
// constraints combine into the narrowest (largest minimum, smallest
// maximum, common allowedValues); the default is the last one given. The
// merged definitions come in order of first appearance. A merged
// definition that no value can satisfy, or whose default breaks its
// merged constraints, is an error. (A PATH default is checked when a job is
// created, once it is joined with the template's directory.)
func MergeParameterDefinitions(job []ParameterDefinition, envs ...*EnvironmentTemplate) ([]ParameterDefinition, error) {
	type sourced struct {
		source string
		def    ParameterDefinition
	}
	byName := map[string][]sourced{}
	var order []string
	add := func(source string, defs []ParameterDefinition) {
		for _, d := range defs {
			if _, ok := byName[d.Name]; !ok {
				order = append(order, d.Name)
			}
			byName[d.Name] = append(byName[d.Name], sourced{source, d})
		}
	}
	for _, e := range envs {
		add(fmt.Sprintf("environment template %q", e.Environment.Name), e.ParameterDefinitions)
	}
	add("the job template", job)

	var c collector
	out := make([]ParameterDefinition, 0, len(order))
	for _, name := range order {
		defs := byName[name]
		path := "parameterDefinitions." + name
		m := defs[len(defs)-1].def
		m.Default, m.AllowedValues = nil, nil
		m.MinLength, m.MaxLength, m.MinValue, m.MaxValue, m.Item = nil, nil, nil, nil, nil
		ok := true
		for _, s := range defs {
			d := s.def
			if d.Type != m.Type {
				c.errorf(path, "type %s in %s differs from type %s in %s", d.Type, s.source, m.Type, defs[len(defs)-1].source)
				ok = false
				continue
			}
			if m.Type.isPathLike() {
				if orDefault(d.ObjectType, "DIRECTORY") != orDefault(m.ObjectType, "DIRECTORY") {
					c.errorf(path, "objectType %s in %s differs from %s", orDefault(d.ObjectType, "DIRECTORY"), s.source,
						orDefault(m.ObjectType, "DIRECTORY"))
					ok = false
				}
				if d.DataFlow != "" && m.DataFlow != "" && d.DataFlow != m.DataFlow {
					c.errorf(path, "dataFlow %s in %s differs from %s", d.DataFlow, s.source, m.DataFlow)
					ok = false
				}
			}
			if d.Default != nil {
				m.Default = d.Default
			}
			m.MinLength = maxPtr(m.MinLength, d.MinLength, false)
			m.MaxLength = maxPtr(m.MaxLength, d.MaxLength, true)
			if it, err := mergeItems(m.Type.elem(), m.Item, d.Item); err != nil {
				c.errorf(path, "%v", err)
				ok = false
			} else {
				m.Item = it
			}
			m.MinValue = maxNum(m.MinValue, d.MinValue, false)
			m.MaxValue = maxNum(m.MaxValue, d.MaxValue, true)
			if d.AllowedValues != nil {
				if m.AllowedValues == nil {
					m.AllowedValues = slices.Clone(d.AllowedValues)
				} else {
					m.AllowedValues = slices.DeleteFunc(m.AllowedValues, func(v string) bool {
						return !slices.ContainsFunc(d.AllowedValues, func(w string) bool { return sameValue(m.Type, v, w) })
					})
				}
			}
		}
		if !ok {
			continue
		}
		switch {
		case m.AllowedValues != nil && len(m.AllowedValues) == 0:
			c.errorf(path, "the definitions have no allowed value in common")
		case m.MinLength != nil && m.MaxLength != nil && *m.MinLength > *m.MaxLength:
			c.errorf(path, "merged minLength %d is greater than merged maxLength %d", *m.MinLength, *m.MaxLength)
		case m.MinValue != nil && m.MaxValue != nil && numLess(*m.MaxValue, *m.MinValue):
			c.errorf(path, "merged minValue %s is greater than merged maxValue %s", *m.MinValue, *m.MaxValue)
		case m.Default != nil && len(defs) > 1 && !m.Type.isPathLike():
			if err := m.checkValue(*m.Default); err != nil {
				c.errorf(path+".default", "%q does not satisfy the merged definition: %v", *m.Default, err)
			}
		}
		out = append(out, m)
	}
	return out, c.err()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// maxPtr returns the larger (or, if smaller, the smaller) of two optional
// integers; nil means no constraint.
func maxPtr(a, b *int64, smaller bool) *int64 {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case (*b > *a) != smaller:
		return b
	}
	return a
}

func maxNum(a, b *string, smaller bool) *string {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	case numLess(*a, *b) != smaller:
		return b
	}
	return a
}

func numLess(a, b string) bool {
	x, _ := parseFloat(a)
	y, _ := parseFloat(b)
	if ix, err := parseInt(a); err == nil {
		if iy, err := parseInt(b); err == nil {
			return ix < iy
		}
	}
	return x < y
}

// sameValue compares two values of a parameter of type t: numbers by value,
// strings exactly.
func sameValue(t ParameterType, a, b string) bool {
	switch t {
	case ParamInt:
		x, err1 := parseInt(a)
		y, err2 := parseInt(b)
		return err1 == nil && err2 == nil && x == y
	case ParamFloat:
		x, err1 := parseFloat(a)
		y, err2 := parseFloat(b)
		return err1 == nil && err2 == nil && x == y
	}
	return a == b
}

// normalizeValue parses a value given for a parameter of type d.Type and
// returns it in the form format strings show: INT in canonical base 10,
// FLOAT as written, strings unchanged.
func (d *ParameterDefinition) normalizeValue(v string) (string, error) {
	if d.Type.IsList() {
		l, err := parseList(d.Type, v)
		if err != nil {
			return "", err
		}
		return l.String(), nil
	}
	switch d.Type {
	case ParamInt:
		n, err := parseInt(v)
		if err != nil {
			return "", err
		}
		return strconv.FormatInt(n, 10), nil
	case ParamFloat:
		if _, err := parseFloat(v); err != nil {
			return "", err
		}
		return strings.TrimSpace(v), nil
	case ParamBool:
		b, ok := expr.ParseBool(strings.TrimSpace(v))
		if !ok {
			return "", fmt.Errorf("%q is not a boolean", v)
		}
		return strconv.FormatBool(b), nil
	case ParamRangeExpr:
		if _, err := ParseIntRange(v); err != nil {
			return "", err
		}
	}
	if runeLen(v) > maxParamStringValue {
		return "", fmt.Errorf("is %d characters long, more than the maximum of %d", runeLen(v), maxParamStringValue)
	}
	return v, nil
}

// checkValue applies the constraints of d to a value.
func (d *ParameterDefinition) checkValue(v string) error {
	if d.Type.IsList() {
		l, err := parseList(d.Type, v)
		if err != nil {
			return err
		}
		return d.checkList(l)
	}
	switch d.Type {
	case ParamInt, ParamFloat:
		n, err := d.normalizeValue(v)
		if err != nil {
			return err
		}
		if d.MinValue != nil && numLess(n, *d.MinValue) {
			return fmt.Errorf("%s is less than minValue %s", n, *d.MinValue)
		}
		if d.MaxValue != nil && numLess(*d.MaxValue, n) {
			return fmt.Errorf("%s is greater than maxValue %s", n, *d.MaxValue)
		}
	default:
		l := int64(runeLen(v))
		if d.MinLength != nil && l < *d.MinLength {
			return fmt.Errorf("is %d characters long, less than minLength %d", l, *d.MinLength)
		}
		if d.MaxLength != nil && l > *d.MaxLength {
			return fmt.Errorf("is %d characters long, more than maxLength %d", l, *d.MaxLength)
		}
	}
	if d.AllowedValues != nil && !slices.ContainsFunc(d.AllowedValues, func(a string) bool { return sameValue(d.Type, a, v) }) {
		return fmt.Errorf("%q is not one of the allowed values %s", v, strings.Join(d.AllowedValues, ", "))
	}
	return nil
}
