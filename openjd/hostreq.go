package openjd

import (
	"slices"
	"strings"
)

// HostRequirements are what a worker host must offer to run a step's tasks
// (Template Schemas 3.3).
type HostRequirements struct {
	Amounts    []AmountRequirement
	Attributes []AttributeRequirement
}

// AmountRequirement asks for a quantity of a capability.
type AmountRequirement struct {
	Name     FormatString
	Min, Max *NumberOrFormat
}

// NumberOrFormat is a number that FEATURE_BUNDLE_1 also lets be a string:
// a float string or a format string resolved when the job is created.
type NumberOrFormat struct {
	Value  float64
	Format *FormatString
}

// AttributeRequirement asks for values of a string-set capability.
type AttributeRequirement struct {
	Name         FormatString
	AnyOf, AllOf []FormatString
}

// Reserved capability scopes and the capabilities the specification
// defines in them; no other name may use these scopes.
var (
	reservedScopes  = []string{"worker", "job", "step", "task"}
	standardAmounts = []string{"amount.worker.vcpu", "amount.worker.memory", "amount.worker.gpu",
		"amount.worker.gpu.memory", "amount.worker.disk.scratch"}
	standardAttrValues = map[string][]string{
		"attr.worker.os.family": {"linux", "windows", "macos"},
		"attr.worker.cpu.arch":  {"x86_64", "arm64"},
	}
)

func (c *checker) hostRequirements(n *node, path string, syms symbols) *HostRequirements {
	raw, ok := c.object(n, path, "amounts", "attributes")
	if !ok {
		return nil
	}
	if raw["amounts"] == nil && raw["attributes"] == nil {
		c.errorf(path, "must have amounts or attributes")
		return nil
	}
	h := &HostRequirements{}
	seen := map[string]string{} // lower-case name -> path of its first use
	dup := func(name FormatString, p string) {
		if !name.IsLiteral() {
			return // compared once resolved
		}
		k := strings.ToLower(name.String())
		if first, ok := seen[k]; ok {
			c.errorf(p, "capability %s is already required at %s", name, first)
		}
		seen[k] = p
	}
	count := 0
	if v := raw["amounts"]; v != nil {
		p := field(path, "amounts")
		items, _ := c.list(v, p, 1)
		count += len(items)
		for i, it := range items {
			if a := c.amount(it, index(p, i), syms); a != nil {
				dup(a.Name, field(index(p, i), "name"))
				h.Amounts = append(h.Amounts, *a)
			}
		}
	}
	if v := raw["attributes"]; v != nil {
		p := field(path, "attributes")
		items, _ := c.list(v, p, 1)
		count += len(items)
		for i, it := range items {
			if a := c.attribute(it, index(p, i), syms); a != nil {
				dup(a.Name, field(index(p, i), "name"))
				h.Attributes = append(h.Attributes, *a)
			}
		}
	}
	if count > maxHostRequirements {
		c.errorf(path, "has %d requirements, more than the maximum of %d", count, maxHostRequirements)
	}
	return h
}

// capabilityName reads an amount or attribute capability name of the form
// [<Identifier>:]<kind>.<Identifier>[.<Identifier>]*.
func (c *checker) capabilityName(n *node, path, kind string, syms symbols) (FormatString, bool) {
	f, ok := c.format(n, path, syms)
	if !ok {
		return f, false
	}
	s := f.String()
	if runeLen(s) > maxCapabilityName && f.IsLiteral() {
		c.errorf(path, "is %d characters long, more than the maximum of %d", runeLen(s), maxCapabilityName)
		return f, false
	}
	if !f.IsLiteral() {
		return f, true // checked once resolved
	}
	if reason := badCapabilityName(s, kind); reason != "" {
		c.errorf(path, "%q: %s", s, reason)
		return f, false
	}
	return f, true
}

func badCapabilityName(s, kind string) string {
	if s == "" {
		return "must not be empty"
	}
	name := s
	if vendor, rest, ok := strings.Cut(s, ":"); ok {
		if !isIdentifier(vendor) {
			return "the vendor prefix must be an identifier"
		}
		name = rest
	}
	parts := strings.Split(name, ".")
	if len(parts) < 2 || !strings.EqualFold(parts[0], kind) {
		return "must have the form [vendor:]" + kind + ".<name>[.<name>...]"
	}
	for _, p := range parts[1:] {
		if !isIdentifier(p) {
			return "each dotted part must be an identifier"
		}
	}
	if slices.Contains(reservedScopes, strings.ToLower(parts[1])) {
		lower := strings.ToLower(name)
		_, isAttr := standardAttrValues[lower]
		if !slices.Contains(standardAmounts, lower) && !isAttr {
			return "the scope " + parts[1] + " is reserved for capabilities the specification defines"
		}
	}
	return ""
}

func (c *checker) amount(n *node, path string, syms symbols) *AmountRequirement {
	raw, ok := c.object(n, path, "name", "min", "max")
	if !ok || !c.require(raw, path, "name") {
		return nil
	}
	a := &AmountRequirement{}
	a.Name, _ = c.capabilityName(raw["name"], field(path, "name"), "amount", syms)
	if raw["min"] == nil && raw["max"] == nil {
		c.errorf(path, "must have min or max")
	}
	if v := raw["min"]; v != nil {
		a.Min = c.numberOrFormat(v, field(path, "min"), syms, false)
	}
	if v := raw["max"]; v != nil {
		a.Max = c.numberOrFormat(v, field(path, "max"), syms, true)
	}
	if a.Min != nil && a.Max != nil && a.Min.Format == nil && a.Max.Format == nil && a.Min.Value > a.Max.Value {
		c.errorf(field(path, "min"), "%g is greater than max %g", a.Min.Value, a.Max.Value)
	}
	return a
}

// numberOrFormat reads a non-negative (or, if positive, > 0) number; with
// FEATURE_BUNDLE_1 also a float string or a format string.
func (c *checker) numberOrFormat(n *node, path string, syms symbols, positive bool) *NumberOrFormat {
	if isStringNode(n) {
		if !c.ext.has(FeatureBundle1) {
			c.errorf(path, "must be a number; a string here needs the FEATURE_BUNDLE_1 extension")
			return nil
		}
		if s := deref(n).Value; isFormatString(s) {
			f, ok := c.formatText(s, path, syms)
			if !ok {
				return nil
			}
			return &NumberOrFormat{Format: &f}
		}
	}
	v, _, ok := c.number(n, path, c.ext.has(FeatureBundle1))
	switch {
	case !ok:
		return nil
	case positive && v <= 0:
		c.errorf(path, "must be greater than zero")
		return nil
	case v < 0:
		c.errorf(path, "must not be negative")
		return nil
	}
	return &NumberOrFormat{Value: v}
}

func (c *checker) attribute(n *node, path string, syms symbols) *AttributeRequirement {
	raw, ok := c.object(n, path, "name", "anyOf", "allOf")
	if !ok || !c.require(raw, path, "name") {
		return nil
	}
	a := &AttributeRequirement{}
	name, nameOK := c.capabilityName(raw["name"], field(path, "name"), "attr", syms)
	a.Name = name
	var allowed []string
	if nameOK && name.IsLiteral() {
		_, rest, found := strings.Cut(name.String(), ":")
		if !found {
			rest = name.String()
		}
		allowed = standardAttrValues[strings.ToLower(rest)]
	}
	if raw["anyOf"] == nil && raw["allOf"] == nil {
		c.errorf(path, "must have anyOf or allOf")
	}
	values := func(key string) []FormatString {
		v := raw[key]
		if v == nil {
			return nil
		}
		p := field(path, key)
		items, _ := c.list(v, p, 1)
		if len(items) > maxAttributeValues {
			c.errorf(p, "has %d values, more than the maximum of %d", len(items), maxAttributeValues)
		}
		var out []FormatString
		for i, it := range items {
			ip := index(p, i)
			f, ok := c.format(it, ip, syms)
			if !ok {
				continue
			}
			if f.IsLiteral() {
				s := f.String()
				if reason := badAttributeValue(s); reason != "" {
					c.errorf(ip, "%q: %s", s, reason)
				} else if allowed != nil && !slices.Contains(allowed, strings.ToLower(s)) {
					c.errorf(ip, "%q is not one of %s", s, strings.Join(allowed, ", "))
				}
			}
			out = append(out, f)
		}
		return out
	}
	a.AnyOf = values("anyOf")
	a.AllOf = values("allOf")
	return a
}

// badAttributeValue checks an <AttributeCapabilityValue> (3.3.2.2).
func badAttributeValue(s string) string {
	switch {
	case s == "":
		return "must not be empty"
	case runeLen(s) > maxAttributeValue:
		return "is longer than 100 characters"
	case !isIdentStart(rune(s[0])):
		return "must start with a letter or '_'"
	}
	for _, r := range s {
		if !isIdentChar(r) && r != '-' {
			return "may only hold latin letters, digits, '_' and '-'"
		}
	}
	return ""
}

// ResolvedHostRequirements are a step's host requirements with their
// format strings resolved at job creation.
type ResolvedHostRequirements struct {
	Amounts    []ResolvedAmount
	Attributes []ResolvedAttribute
}

// ResolvedAmount asks for a quantity of a capability; Min and Max are nil
// when not given.
type ResolvedAmount struct {
	Name     string
	Min, Max *float64
}

// ResolvedAttribute asks for values of a string-set capability.
type ResolvedAttribute struct {
	Name         string
	AnyOf, AllOf []string
}

// resolveHostRequirements resolves the format strings of host requirements
// and applies the rules that could not be checked on the template: name
// syntax and length, reserved scopes, distinct names, attribute values and
// numeric amounts.
func (c *collector) resolveHostRequirements(h *HostRequirements, path string, scope Scope) *ResolvedHostRequirements {
	r := &ResolvedHostRequirements{}
	seen := map[string]string{}
	name := func(f FormatString, p, kind string) (string, bool) {
		s, err := f.Resolve(scope)
		if err != nil {
			c.errorf(p, "%v", err)
			return "", false
		}
		if f.IsLiteral() {
			return s, true // checked with the template
		}
		if runeLen(s) > maxCapabilityName {
			c.errorf(p, "resolves to %d characters, more than the maximum of %d", runeLen(s), maxCapabilityName)
			return "", false
		}
		if reason := badCapabilityName(s, kind); reason != "" {
			c.errorf(p, "resolves to %q: %s", s, reason)
			return "", false
		}
		return s, true
	}
	dup := func(s, p string) {
		k := strings.ToLower(s)
		if first, ok := seen[k]; ok {
			c.errorf(p, "capability %s is already required at %s", s, first)
		}
		seen[k] = p
	}
	for i, a := range h.Amounts {
		p := index(field(path, "amounts"), i)
		n, ok := name(a.Name, field(p, "name"), "amount")
		if !ok {
			continue
		}
		dup(n, field(p, "name"))
		ra := ResolvedAmount{Name: n}
		ra.Min = c.resolveNumber(a.Min, field(p, "min"), scope, false)
		ra.Max = c.resolveNumber(a.Max, field(p, "max"), scope, true)
		if ra.Min != nil && ra.Max != nil && *ra.Min > *ra.Max {
			c.errorf(field(p, "min"), "%g is greater than max %g", *ra.Min, *ra.Max)
		}
		r.Amounts = append(r.Amounts, ra)
	}
	for i, a := range h.Attributes {
		p := index(field(path, "attributes"), i)
		n, ok := name(a.Name, field(p, "name"), "attr")
		if !ok {
			continue
		}
		dup(n, field(p, "name"))
		_, rest, found := strings.Cut(n, ":")
		if !found {
			rest = n
		}
		allowed := standardAttrValues[strings.ToLower(rest)]
		values := func(fs []FormatString, key string) []string {
			var out []string
			for k, f := range fs {
				vp := index(field(p, key), k)
				v, err := f.Resolve(scope)
				if err != nil {
					c.errorf(vp, "%v", err)
					continue
				}
				if reason := badAttributeValue(v); reason != "" {
					c.errorf(vp, "%q: %s", v, reason)
				} else if allowed != nil && !slices.Contains(allowed, strings.ToLower(v)) {
					c.errorf(vp, "%q is not one of %s", v, strings.Join(allowed, ", "))
				}
				out = append(out, v)
			}
			return out
		}
		r.Attributes = append(r.Attributes, ResolvedAttribute{Name: n, AnyOf: values(a.AnyOf, "anyOf"), AllOf: values(a.AllOf, "allOf")})
	}
	return r
}

// resolveNumber resolves an amount's min or max.
func (c *collector) resolveNumber(n *NumberOrFormat, path string, scope Scope, positive bool) *float64 {
	if n == nil {
		return nil
	}
	if n.Format == nil {
		v := n.Value
		return &v
	}
	s, err := n.Format.Resolve(scope)
	if err != nil {
		c.errorf(path, "%v", err)
		return nil
	}
	v, err := parseFloat(s)
	switch {
	case err != nil:
		c.errorf(path, "resolves to %q, which is not a number", s)
		return nil
	case positive && v <= 0:
		c.errorf(path, "resolves to %s; it must be greater than zero", s)
		return nil
	case v < 0:
		c.errorf(path, "resolves to %s; it must not be negative", s)
		return nil
	}
	return &v
}
