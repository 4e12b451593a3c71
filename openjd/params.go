package openjd

import (
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/berth-run/berth/openjd/expr"
)

// ParameterType is the type of a job parameter.
type ParameterType string

// Job parameter types (Template Schemas 2).
const (
	ParamString ParameterType = "STRING"
	ParamPath   ParameterType = "PATH"
	ParamInt    ParameterType = "INT"
	ParamFloat  ParameterType = "FLOAT"
	// BOOL and RANGE_EXPR need the EXPR extension (RFC 0007). A BOOL
	// value is "true" or "false"; a RANGE_EXPR value an <IntRangeExpr>.
	ParamBool      ParameterType = "BOOL"
	ParamRangeExpr ParameterType = "RANGE_EXPR"
)

// ParameterDefinition is a job parameter (Template Schemas 2). Values are
// kept as text: INT values in canonical base-10 form, FLOAT values as
// written, since that is how format strings will show them.
type ParameterDefinition struct {
	Name          string
	Type          ParameterType
	Description   string
	Default       *string
	AllowedValues []string
	// MinLength and MaxLength constrain STRING and PATH values, and the
	// number of items of LIST values.
	MinLength, MaxLength *int64
	// Item constrains the items of a LIST parameter; nil if not given.
	Item *ItemConstraints
	// MinValue and MaxValue constrain INT and FLOAT values.
	MinValue, MaxValue *string
	// ObjectType (FILE, DIRECTORY) and DataFlow (NONE, IN, OUT, INOUT) are
	// for PATH parameters; empty when not given.
	ObjectType, DataFlow string
	UserInterface        *UserInterface
}

// UserInterface holds the hints for editing a parameter in a UI.
type UserInterface struct {
	// Control is the control as given, or the default the specification
	// derives from the other fields.
	Control           string
	Label, GroupLabel string
	FileFilters       []FileFilter
	FileFilterDefault *FileFilter
	SingleStepDelta   *float64
	Decimals          *int64
}

// FileFilter is a named set of file patterns for a file dialog.
type FileFilter struct {
	Label    string
	Patterns []string
}

var paramKeys = map[ParameterType][]string{
	ParamString: {"name", "type", "description", "default", "allowedValues", "userInterface", "minLength", "maxLength"},
	ParamPath: {"name", "type", "description", "default", "allowedValues", "userInterface", "minLength", "maxLength",
		"objectType", "dataFlow"},
	ParamInt:   {"name", "type", "description", "default", "allowedValues", "userInterface", "minValue", "maxValue"},
	ParamFloat: {"name", "type", "description", "default", "allowedValues", "userInterface", "minValue", "maxValue"},
	ParamBool:  {"name", "type", "description", "default", "userInterface"},
	ParamRangeExpr: {"name", "type", "description", "default", "allowedValues", "userInterface", "minLength",
		"maxLength"},
	ParamListString: {"name", "type", "description", "default", "userInterface", "minLength", "maxLength", "item"},
	ParamListPath: {"name", "type", "description", "default", "userInterface", "minLength", "maxLength", "item",
		"objectType", "dataFlow"},
	ParamListInt:     {"name", "type", "description", "default", "userInterface", "minLength", "maxLength", "item"},
	ParamListFloat:   {"name", "type", "description", "default", "userInterface", "minLength", "maxLength", "item"},
	ParamListBool:    {"name", "type", "description", "default", "userInterface", "minLength", "maxLength"},
	ParamListListInt: {"name", "type", "description", "default", "userInterface", "minLength", "maxLength", "item"},
}

var uiKeys = map[ParameterType][]string{
	ParamString:      {"control", "label", "groupLabel"},
	ParamPath:        {"control", "label", "groupLabel", "fileFilters", "fileFilterDefault"},
	ParamInt:         {"control", "label", "groupLabel", "singleStepDelta"},
	ParamFloat:       {"control", "label", "groupLabel", "singleStepDelta", "decimals"},
	ParamBool:        {"control", "label", "groupLabel"},
	ParamRangeExpr:   {"control", "label", "groupLabel"},
	ParamListString:  {"control", "label", "groupLabel"},
	ParamListPath:    {"control", "label", "groupLabel", "fileFilters", "fileFilterDefault"},
	ParamListInt:     {"control", "label", "groupLabel", "singleStepDelta"},
	ParamListFloat:   {"control", "label", "groupLabel", "singleStepDelta", "decimals"},
	ParamListBool:    {"control", "label", "groupLabel"},
	ParamListListInt: {"control", "label", "groupLabel"},
}

var controls = map[ParameterType][]string{
	ParamString:      {"LINE_EDIT", "MULTILINE_EDIT", "DROPDOWN_LIST", "CHECK_BOX", "HIDDEN"},
	ParamPath:        {"CHOOSE_INPUT_FILE", "CHOOSE_OUTPUT_FILE", "CHOOSE_DIRECTORY", "DROPDOWN_LIST", "HIDDEN"},
	ParamInt:         {"SPIN_BOX", "DROPDOWN_LIST", "HIDDEN"},
	ParamFloat:       {"SPIN_BOX", "DROPDOWN_LIST", "HIDDEN"},
	ParamBool:        {"CHECK_BOX", "HIDDEN"},
	ParamRangeExpr:   {"LINE_EDIT", "DROPDOWN_LIST", "HIDDEN"},
	ParamListString:  {"LINE_EDIT_LIST", "HIDDEN"},
	ParamListPath:    {"CHOOSE_INPUT_FILE_LIST", "CHOOSE_OUTPUT_FILE_LIST", "CHOOSE_DIRECTORY_LIST", "HIDDEN"},
	ParamListInt:     {"SPIN_BOX_LIST", "HIDDEN"},
	ParamListFloat:   {"SPIN_BOX_LIST", "HIDDEN"},
	ParamListBool:    {"CHECK_BOX_LIST", "HIDDEN"},
	ParamListListInt: {"HIDDEN"},
}

// paramDefs reads a parameterDefinitions list.
func (c *checker) paramDefs(n *node, path string) []ParameterDefinition {
	items, ok := c.list(n, path, 1)
	if !ok {
		return nil
	}
	if len(items) > c.lim.params {
		c.errorf(path, "has %d parameters, more than the maximum of %d", len(items), c.lim.params)
	}
	var defs []ParameterDefinition
	seen := map[string]bool{}
	for i, it := range items {
		p := index(path, i)
		d, ok := c.paramDef(it, p)
		if !ok {
			continue
		}
		if seen[d.Name] {
			c.errorf(field(p, "name"), "parameter %s is defined twice", d.Name)
		}
		seen[d.Name] = true
		defs = append(defs, d)
	}
	return defs
}

// paramDef reads one parameter definition; ok is false if its name or type
// is unusable, so later rules do not report follow-on errors.
func (c *checker) paramDef(n *node, path string) (ParameterDefinition, bool) {
	var d ParameterDefinition
	raw, ok := c.object(n, path, "name", "type", "description", "default", "allowedValues", "userInterface",
		"minLength", "maxLength", "objectType", "dataFlow", "minValue", "maxValue", "item")
	if !ok {
		return d, false
	}
	nameOK := c.require(raw, path, "name") && c.identField(raw["name"], field(path, "name"), &d.Name)
	if !c.require(raw, path, "type") {
		return d, false
	}
	types := []string{"STRING", "PATH", "INT", "FLOAT"}
	t, ok := c.str(raw["type"], field(path, "type"))
	if !ok {
		return d, false
	}
	if c.ext.has(ExprExtension) {
		// EXPR adds types and makes their names case-insensitive (RFC 0007).
		types = append(types, "BOOL", "RANGE_EXPR")
		for _, lt := range listTypes {
			types = append(types, string(lt))
		}
		t = strings.ToUpper(t)
	}
	if !slices.Contains(types, t) {
		c.errorf(field(path, "type"), "%q is not one of %s", t, strings.Join(types, ", "))
		return d, false
	}
	d.Type = ParameterType(t)
	for k := range raw {
		if !slices.Contains(paramKeys[d.Type], k) {
			c.errorf(field(path, k), "is not a field of a %s parameter", d.Type)
		}
	}
	if v := raw["description"]; v != nil {
		if s, ok := c.str(v, field(path, "description")); ok {
			c.checkDescription(s, field(path, "description"))
			d.Description = s
		}
	}
	// Parsed numeric forms of the values, for the range rules.
	var minV, maxV, defV *float64
	var allowedV []float64
	numeric := d.Type == ParamInt || d.Type == ParamFloat
	if v := raw["minValue"]; v != nil && numeric {
		if s, f, ok := c.paramValue(d.Type, v, field(path, "minValue")); ok {
			d.MinValue, minV = &s, &f
		}
	}
	if v := raw["maxValue"]; v != nil && numeric {
		if s, f, ok := c.paramValue(d.Type, v, field(path, "maxValue")); ok {
			d.MaxValue, maxV = &s, &f
		}
	}
	if minV != nil && maxV != nil && *minV > *maxV {
		c.errorf(field(path, "minValue"), "%s is greater than maxValue %s", *d.MinValue, *d.MaxValue)
	}
	if !numeric {
		d.MinLength = c.optNonNegInt(raw["minLength"], field(path, "minLength"))
		d.MaxLength = c.optNonNegInt(raw["maxLength"], field(path, "maxLength"))
		if d.MinLength != nil && d.MaxLength != nil && *d.MinLength > *d.MaxLength {
			c.errorf(field(path, "minLength"), "%d is greater than maxLength %d", *d.MinLength, *d.MaxLength)
		}
	}
	// checkValue applies the parameter's own constraints to a value.
	checkValue := func(s string, f float64, p string) {
		if numeric {
			if minV != nil && f < *minV {
				c.errorf(p, "%s is less than minValue %s", s, *d.MinValue)
			}
			if maxV != nil && f > *maxV {
				c.errorf(p, "%s is greater than maxValue %s", s, *d.MaxValue)
			}
			return
		}
		l := int64(runeLen(s))
		if d.MinLength != nil && l < *d.MinLength {
			c.errorf(p, "is %d characters long, less than minLength %d", l, *d.MinLength)
		}
		if d.MaxLength != nil && l > *d.MaxLength {
			c.errorf(p, "is %d characters long, more than maxLength %d", l, *d.MaxLength)
		}
	}
	if v := raw["allowedValues"]; v != nil {
		p := field(path, "allowedValues")
		if items, ok := c.list(v, p, 1); ok {
			d.AllowedValues = []string{}
			for i, it := range items {
				if s, f, ok := c.paramValue(d.Type, it, index(p, i)); ok {
					checkValue(s, f, index(p, i))
					d.AllowedValues = append(d.AllowedValues, s)
					allowedV = append(allowedV, f)
				}
			}
		}
	}
	if v := raw["item"]; v != nil && d.Type.IsList() {
		d.Item = c.itemConstraints(v, field(path, "item"), d.Type.elem())
	}
	if v := raw["default"]; v != nil && d.Type.IsList() {
		p := field(path, "default")
		if s, ok := c.listDefault(d.Type, v, p); ok {
			d.Default = &s
			// The items of a LIST[PATH] default are checked as written
			// here, and again once joined with the template's directory
			// when a job is created.
			if err := d.checkValue(s); err != nil {
				c.errorf(p, "%v", err)
			}
		}
	} else if v := raw["default"]; v != nil {
		p := field(path, "default")
		if s, f, ok := c.paramValue(d.Type, v, p); ok {
			d.Default, defV = &s, &f
			checkValue(s, f, p)
			if d.AllowedValues != nil {
				in := slices.Contains(d.AllowedValues, s)
				if numeric {
					in = slices.Contains(allowedV, *defV)
				}
				if !in {
					c.errorf(p, "%q is not one of allowedValues", s)
				}
			}
		}
	}
	if d.Type.isPathLike() {
		if v := raw["objectType"]; v != nil {
			d.ObjectType, _ = c.enum(v, field(path, "objectType"), "FILE", "DIRECTORY")
		}
		if v := raw["dataFlow"]; v != nil {
			d.DataFlow, _ = c.enum(v, field(path, "dataFlow"), "NONE", "IN", "OUT", "INOUT")
		}
	}
	if v := raw["userInterface"]; v != nil {
		d.UserInterface = c.userInterface(v, field(path, "userInterface"), &d)
	}
	return d, nameOK
}

// identField reads an <Identifier> into dst.
func (c *checker) identField(n *node, path string, dst *string) bool {
	s, ok := c.str(n, path)
	if !ok || !c.checkIdentifier(s, path) {
		return false
	}
	*dst = s
	return true
}

func (c *checker) optNonNegInt(n *node, path string) *int64 {
	if n == nil {
		return nil
	}
	v, ok := c.integer(n, path, false)
	if !ok {
		return nil
	}
	if v < 0 {
		c.errorf(path, "must not be negative")
		return nil
	}
	return &v
}

// paramValue reads a value of a job parameter of type t, returning its text
// and, for numbers, its numeric value.
func (c *checker) paramValue(t ParameterType, n *node, path string) (string, float64, bool) {
	switch t {
	case ParamInt:
		v, ok := c.integer(n, path, true)
		return strconv.FormatInt(v, 10), float64(v), ok
	case ParamFloat:
		f, s, ok := c.number(n, path, true)
		return strings.TrimSpace(s), f, ok
	case ParamBool:
		if dn := deref(n); dn != nil && dn.Kind == yaml.ScalarNode && (dn.Tag == "!!bool" || dn.Tag == "!!str" || dn.Tag == "!!int" || dn.Tag == "!!float") {
			if b, ok := expr.ParseBool(dn.Value); ok {
				return strconv.FormatBool(b), 0, true
			}
		}
		c.errorf(path, "must be a boolean")
		return "", 0, false
	case ParamRangeExpr:
		s, ok := c.str(n, path)
		if ok {
			if _, err := ParseIntRange(s); err != nil {
				c.errorf(path, "%v", err)
				ok = false
			}
		}
		return s, 0, ok
	}
	s, ok := c.str(n, path)
	if ok && runeLen(s) > maxParamStringValue {
		c.errorf(path, "is %d characters long, more than the maximum of %d", runeLen(s), maxParamStringValue)
		ok = false
	}
	return s, 0, ok
}

// checkboxPairs are the allowed value pairs of a CHECK_BOX, compared
// case-insensitively and in either order.
var checkboxPairs = [][2]string{{"true", "false"}, {"yes", "no"}, {"on", "off"}, {"1", "0"}}

func (c *checker) userInterface(n *node, path string, d *ParameterDefinition) *UserInterface {
	raw, ok := c.object(n, path, uiKeys[d.Type]...)
	if !ok {
		return nil
	}
	ui := &UserInterface{}
	hasAllowed := d.AllowedValues != nil
	if v := raw["control"]; v != nil {
		ui.Control, _ = c.enum(v, field(path, "control"), controls[d.Type]...)
	} else {
		ui.Control = defaultControl(d)
	}
	cp := field(path, "control")
	switch ui.Control {
	case "LINE_EDIT", "MULTILINE_EDIT", "SPIN_BOX", "CHOOSE_INPUT_FILE", "CHOOSE_OUTPUT_FILE", "CHOOSE_DIRECTORY":
		if hasAllowed {
			c.errorf(cp, "%s cannot be used with allowedValues", ui.Control)
		}
	case "DROPDOWN_LIST":
		if !hasAllowed {
			c.errorf(cp, "DROPDOWN_LIST requires allowedValues")
		}
	case "CHECK_BOX":
		if d.Type == ParamBool {
			break
		}
		if !isCheckboxPair(d.AllowedValues) {
			c.errorf(cp, "CHECK_BOX requires allowedValues with two values forming a true/false pair: "+
				"true/false, yes/no, on/off or 1/0")
		}
	}
	if v := raw["label"]; v != nil {
		if s, ok := c.str(v, field(path, "label")); ok {
			c.checkName(s, field(path, "label"), maxLabel)
			ui.Label = s
		}
	}
	if v := raw["groupLabel"]; v != nil {
		if s, ok := c.str(v, field(path, "groupLabel")); ok {
			c.checkName(s, field(path, "groupLabel"), maxLabel)
			ui.GroupLabel = s
		}
	}
	fileControl := strings.HasPrefix(ui.Control, "CHOOSE_INPUT_FILE") || strings.HasPrefix(ui.Control, "CHOOSE_OUTPUT_FILE")
	if v := raw["fileFilters"]; v != nil {
		p := field(path, "fileFilters")
		if !fileControl {
			c.errorf(p, "can only be given with control CHOOSE_INPUT_FILE or CHOOSE_OUTPUT_FILE, not %s", ui.Control)
		}
		if items, ok := c.list(v, p, 1); ok {
			if len(items) > maxFileFilters {
				c.errorf(p, "has %d filters, more than the maximum of %d", len(items), maxFileFilters)
			}
			for i, it := range items {
				if f := c.fileFilter(it, index(p, i)); f != nil {
					ui.FileFilters = append(ui.FileFilters, *f)
				}
			}
		}
	}
	if v := raw["fileFilterDefault"]; v != nil {
		p := field(path, "fileFilterDefault")
		if !fileControl {
			c.errorf(p, "can only be given with control CHOOSE_INPUT_FILE or CHOOSE_OUTPUT_FILE, not %s", ui.Control)
		}
		ui.FileFilterDefault = c.fileFilter(v, p)
	}
	if v := raw["singleStepDelta"]; v != nil {
		p := field(path, "singleStepDelta")
		var f float64
		var ok bool
		if d.Type == ParamInt || d.Type == ParamListInt {
			var i int64
			i, ok = c.integer(v, p, false)
			f = float64(i)
		} else {
			f, _, ok = c.number(v, p, false)
		}
		switch {
		case !ok:
		case f <= 0:
			c.errorf(p, "must be positive")
		case !strings.HasPrefix(ui.Control, "SPIN_BOX"):
			c.errorf(p, "can only be given with control SPIN_BOX, not %s", ui.Control)
		default:
			ui.SingleStepDelta = &f
		}
	}
	if v := raw["decimals"]; v != nil {
		p := field(path, "decimals")
		if dec := c.optNonNegInt(v, p); dec != nil {
			if !strings.HasPrefix(ui.Control, "SPIN_BOX") {
				c.errorf(p, "can only be given with control SPIN_BOX, not %s", ui.Control)
			}
			ui.Decimals = dec
		}
	}
	return ui
}

// defaultControl is the control the specification implies when none is
// given (Template Schemas 2.1-2.4).
func defaultControl(d *ParameterDefinition) string {
	if d.AllowedValues != nil {
		return "DROPDOWN_LIST"
	}
	switch d.Type {
	case ParamListString:
		return "LINE_EDIT_LIST"
	case ParamListInt, ParamListFloat:
		return "SPIN_BOX_LIST"
	case ParamListBool:
		return "CHECK_BOX_LIST"
	case ParamListListInt:
		return "HIDDEN"
	case ParamListPath:
		return defaultControl(&ParameterDefinition{Type: ParamPath, ObjectType: d.ObjectType, DataFlow: d.DataFlow}) + "_LIST"
	case ParamString, ParamRangeExpr:
		return "LINE_EDIT"
	case ParamBool:
		return "CHECK_BOX"
	case ParamPath:
		if d.ObjectType == "FILE" {
			if d.DataFlow == "OUT" {
				return "CHOOSE_OUTPUT_FILE"
			}
			return "CHOOSE_INPUT_FILE"
		}
		return "CHOOSE_DIRECTORY"
	}
	return "SPIN_BOX"
}

func isCheckboxPair(vals []string) bool {
	if len(vals) != 2 {
		return false
	}
	a, b := strings.ToLower(vals[0]), strings.ToLower(vals[1])
	for _, p := range checkboxPairs {
		if a == p[0] && b == p[1] || a == p[1] && b == p[0] {
			return true
		}
	}
	return false
}

func (c *checker) fileFilter(n *node, path string) *FileFilter {
	raw, ok := c.object(n, path, "label", "patterns")
	if !ok || !c.require(raw, path, "label", "patterns") {
		return nil
	}
	f := &FileFilter{}
	if s, ok := c.str(raw["label"], field(path, "label")); ok {
		c.checkName(s, field(path, "label"), maxLabel)
		f.Label = s
	}
	p := field(path, "patterns")
	items, _ := c.list(raw["patterns"], p, 1)
	for i, it := range items {
		if s, ok := c.str(it, index(p, i)); ok {
			if reason := badFilterPattern(s); reason != "" {
				c.errorf(index(p, i), "%q: %s", s, reason)
			}
			f.Patterns = append(f.Patterns, s)
		}
	}
	return f
}

// badFilterPattern explains why s is not a <FileDialogFilterPatternStringValue>
// (Template Schemas 2.8), or returns "".
func badFilterPattern(s string) string {
	switch {
	case runeLen(s) > maxFileFilterPattern:
		return "is longer than 20 characters"
	case s == "*" || s == "*.*":
		return ""
	case !strings.HasPrefix(s, "*.") || len(s) == 2:
		return `must be "*", "*.*" or "*." followed by an extension`
	}
	if strings.IndexFunc(s[2:], func(r rune) bool { return isCc(r) || strings.ContainsRune(`\/*?[]#%&{}<>$!'":@`+"`|=", r) }) >= 0 {
		return "the extension has a character that is not allowed"
	}
	return ""
}
