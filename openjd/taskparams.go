package openjd

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-run/berth/openjd/expr"
)

// StepParameterSpace is a step's parameterSpace as written (Template
// Schemas 3.4). Space turns it into the lazy set of tasks.
type StepParameterSpace struct {
	TaskParameterDefinitions []TaskParameterDefinition
	// Combination is the expression as written; empty for the default,
	// the product of all parameters.
	Combination string
	combo       Combination
}

// TaskParameterDefinition is one task parameter with its range.
type TaskParameterDefinition struct {
	Name string
	Type TaskParameterType
	// RangeExpr is set when the range is an INT range expression string;
	// RangeItems when it is a list. Format strings in either are resolved
	// when the job is created.
	RangeExpr  *FormatString
	RangeItems []FormatString
	// Chunks is set for CHUNK[INT] (TASK_CHUNKING).
	Chunks *Chunks
}

// Chunks says how a CHUNK[INT] parameter's values are grouped.
type Chunks struct {
	DefaultTaskCount     IntOrFormat
	TargetRuntimeSeconds *IntOrFormat
	// RangeConstraint is CONTIGUOUS or NONCONTIGUOUS.
	RangeConstraint string
}

// Space resolves the ranges with scope (the job's parameter values; nil if
// the ranges hold no format strings) and returns the step's tasks.
func (s *StepParameterSpace) Space(scope Scope) (*ParameterSpace, error) {
	if scope == nil {
		scope = MapScope{}
	}
	params := make([]TaskParameter, len(s.TaskParameterDefinitions))
	for i, d := range s.TaskParameterDefinitions {
		vals, err := d.values(scope)
		if err != nil {
			return nil, fmt.Errorf("task parameter %s: %w", d.Name, err)
		}
		params[i] = TaskParameter{Name: d.Name, Type: d.Type, Values: vals}
		if d.Chunks != nil {
			spec, err := d.Chunks.resolve(scope)
			if err != nil {
				return nil, fmt.Errorf("task parameter %s: %w", d.Name, err)
			}
			params[i].Chunks = spec
		}
	}
	return NewParameterSpace(params, s.Combination)
}

// resolve evaluates the chunk settings with the job's parameter values.
func (c *Chunks) resolve(scope Scope) (*ChunkSpec, error) {
	size, err := c.DefaultTaskCount.Resolve(scope)
	if err != nil {
		return nil, fmt.Errorf("chunks.defaultTaskCount: %w", err)
	}
	if size < 1 {
		return nil, fmt.Errorf("chunks.defaultTaskCount: %d is less than the minimum of 1", size)
	}
	spec := &ChunkSpec{Size: size, Contiguous: c.RangeConstraint != "NONCONTIGUOUS"}
	if c.TargetRuntimeSeconds != nil {
		t, err := c.TargetRuntimeSeconds.Resolve(scope)
		if err != nil {
			return nil, fmt.Errorf("chunks.targetRuntimeSeconds: %w", err)
		}
		if t < 0 {
			return nil, fmt.Errorf("chunks.targetRuntimeSeconds: %d is less than the minimum of 0", t)
		}
		spec.TargetRuntimeSeconds = t
	}
	return spec, nil
}

// listValues converts the list a range expression evaluated to into the
// parameter's values, coercing items that represent a value of its type
// exactly.
func (d *TaskParameterDefinition) listValues(l expr.Value) (TaskValues, error) {
	items := l.Items()
	switch {
	case len(items) == 0:
		return TaskValues{}, fmt.Errorf("%q evaluates to an empty list", d.RangeExpr.String())
	case len(items) > maxRangeItems:
		return TaskValues{}, fmt.Errorf("%q evaluates to %d values, more than the maximum of %d", d.RangeExpr.String(), len(items), maxRangeItems)
	}
	var v TaskValues
	for i, it := range items {
		if it.Kind() == expr.KList || it.IsNull() {
			return TaskValues{}, fmt.Errorf("item %d is %s, not a %s value", i, it.Type(), strings.ToLower(string(d.Type)))
		}
		s := it.Format()
		switch d.Type {
		case TaskInt, TaskChunkInt:
			var n int64
			var err error
			if it.Kind() == expr.KFloat && it.Float() == math.Trunc(it.Float()) && math.Abs(it.Float()) < 1<<63 {
				n = int64(it.Float())
			} else if it.Kind() == expr.KBool {
				err = fmt.Errorf("item %d is a bool, not an integer", i)
			} else {
				n, err = parseInt(s)
			}
			if err != nil {
				return TaskValues{}, err
			}
			v.Ints = append(v.Ints, n)
		case TaskFloat:
			if it.Kind() == expr.KBool {
				return TaskValues{}, fmt.Errorf("item %d is a bool, not a number", i)
			}
			if _, err := parseFloat(s); err != nil {
				return TaskValues{}, err
			}
			v.Strings = append(v.Strings, strings.TrimSpace(s))
		default:
			if s == "" {
				return TaskValues{}, fmt.Errorf("item %d is empty", i)
			}
			if runeLen(s) > maxTaskStringValue {
				return TaskValues{}, fmt.Errorf("item %d is %d characters long, more than the maximum of %d", i, runeLen(s), maxTaskStringValue)
			}
			v.Strings = append(v.Strings, s)
		}
	}
	return v, nil
}

// values resolves and parses the range of one task parameter.
func (d *TaskParameterDefinition) values(scope Scope) (TaskValues, error) {
	if d.RangeExpr != nil {
		val, err := d.RangeExpr.Value(scope)
		if err != nil {
			return TaskValues{}, err
		}
		switch {
		case val.Kind() == expr.KList:
			return d.listValues(val)
		case val.Kind() == expr.KRange && d.Type.isInt():
			r, err := ParseIntRange(val.String())
			if err != nil {
				return TaskValues{}, err
			}
			if r.Len() > maxRangeItems {
				return TaskValues{}, fmt.Errorf("range %q has %d values, more than the maximum of %d", val.String(), r.Len(), maxRangeItems)
			}
			return TaskValues{Range: r}, nil
		case !d.Type.isInt():
			return TaskValues{}, fmt.Errorf("%q must evaluate to a list, not %s", d.RangeExpr.String(), val.Type())
		}
		s := val.Format()
		r, err := ParseIntRange(s)
		if err != nil {
			return TaskValues{}, err
		}
		if r.Len() > maxRangeItems {
			return TaskValues{}, fmt.Errorf("range %q has %d values, more than the maximum of %d", s, r.Len(), maxRangeItems)
		}
		return TaskValues{Range: r}, nil
	}
	var v TaskValues
	for _, it := range d.RangeItems {
		s, err := it.Resolve(scope)
		if err != nil {
			return TaskValues{}, err
		}
		switch d.Type {
		case TaskInt, TaskChunkInt:
			n, err := parseInt(s)
			if err != nil {
				return TaskValues{}, err
			}
			v.Ints = append(v.Ints, n)
		case TaskFloat:
			if _, err := parseFloat(s); err != nil {
				return TaskValues{}, err
			}
			v.Strings = append(v.Strings, strings.TrimSpace(s))
		default:
			if s == "" {
				return TaskValues{}, fmt.Errorf("empty value")
			}
			v.Strings = append(v.Strings, s)
		}
	}
	return v, nil
}

func (c *checker) parameterSpace(n *node, path string, syms symbols) *StepParameterSpace {
	raw, ok := c.object(n, path, "taskParameterDefinitions", "combination")
	if !ok || !c.require(raw, path, "taskParameterDefinitions") {
		return nil
	}
	ps := &StepParameterSpace{}
	p := field(path, "taskParameterDefinitions")
	items, _ := c.list(raw["taskParameterDefinitions"], p, 1)
	if len(items) > maxTaskParams {
		c.errorf(p, "has %d task parameters, more than the maximum of %d", len(items), maxTaskParams)
	}
	seen := map[string]bool{}
	var names []string
	var lens []int64
	chunked := map[string]bool{}
	complete := true
	for i, it := range items {
		ip := index(p, i)
		d, n, ok := c.taskParam(it, ip, syms)
		if !ok {
			complete = false
			continue
		}
		if seen[d.Name] {
			c.errorf(field(ip, "name"), "task parameter %s is defined twice", d.Name)
			complete = false
		}
		if d.Type == TaskChunkInt {
			if len(chunked) > 0 {
				c.errorf(field(ip, "type"), "a step may have only one CHUNK[INT] parameter")
			}
			chunked[d.Name] = true
		}
		seen[d.Name] = true
		names = append(names, d.Name)
		lens = append(lens, n)
		ps.TaskParameterDefinitions = append(ps.TaskParameterDefinitions, d)
	}
	if v := raw["combination"]; v != nil {
		cp := field(path, "combination")
		s, ok := c.str(v, cp)
		if !ok {
			return ps
		}
		ps.Combination = s
		if runeLen(s) > maxCombination {
			c.errorf(cp, "is %d characters long, more than the maximum of %d", runeLen(s), maxCombination)
			return ps
		}
		combo, err := ParseCombination(s)
		if err != nil {
			c.errorf(cp, "%v", err)
			return ps
		}
		ps.combo = combo
		for name := range chunked {
			if inZip(combo, name) {
				c.errorf(cp, "the CHUNK[INT] parameter %s cannot be in an associative group ( , )", name)
			}
		}
	}
	if complete {
		_, errs := buildSpace(names, lens, ps.combo)
		for _, err := range errs {
			c.errorf(field(path, "combination"), "%v", err)
		}
	}
	return ps
}

func inZip(c Combination, name string) bool {
	switch c := c.(type) {
	case ComboZip:
		found := false
		c.Params(func(n string) { found = found || n == name })
		return found
	case ComboProduct:
		for _, t := range c.Terms {
			if inZip(t, name) {
				return true
			}
		}
	}
	return false
}

// taskParam reads one task parameter definition and returns the number of
// values of its range, -1 if it depends on job parameters.
func (c *checker) taskParam(n *node, path string, syms symbols) (TaskParameterDefinition, int64, bool) {
	var d TaskParameterDefinition
	raw, ok := c.object(n, path, "name", "type", "range", "chunks")
	if !ok || !c.require(raw, path, "name", "type", "range") {
		return d, 0, false
	}
	ok = c.identField(raw["name"], field(path, "name"), &d.Name)
	t, tok := c.str(raw["type"], field(path, "type"))
	if !tok {
		return d, 0, false
	}
	if c.ext.has(ExprExtension) {
		t = strings.ToUpper(t) // type names are case-insensitive with EXPR (RFC 0007)
	}
	if types := []string{"INT", "FLOAT", "STRING", "PATH", "CHUNK[INT]"}; !slices.Contains(types, t) {
		c.errorf(field(path, "type"), "%q is not one of %s", t, strings.Join(types, ", "))
		return d, 0, false
	}
	d.Type = TaskParameterType(t)
	if d.Type == TaskChunkInt {
		if !c.ext.has(TaskChunking) {
			c.errorf(field(path, "type"), "CHUNK[INT] needs the TASK_CHUNKING extension")
			ok = false
		}
		if raw["chunks"] == nil {
			c.errorf(field(path, "chunks"), "is required for CHUNK[INT]")
			ok = false
		} else {
			d.Chunks = c.chunks(raw["chunks"], field(path, "chunks"), syms)
		}
	} else if raw["chunks"] != nil {
		c.errorf(field(path, "chunks"), "is only allowed for CHUNK[INT] parameters")
	}
	count, rok := c.taskRange(raw["range"], field(path, "range"), &d, syms)
	return d, count, ok && rok
}

func (c *checker) taskRange(n *node, path string, d *TaskParameterDefinition, syms symbols) (int64, bool) {
	if isStringNode(n) {
		// With EXPR, a range of any type may be one expression that
		// evaluates to a list (a ListExpressionString, RFC 0005).
		listExpr := c.ext.has(ExprExtension) && isFormatString(deref(n).Value)
		if !d.Type.isInt() && !listExpr {
			c.errorf(path, "must be a list; range expressions are only for INT parameters")
			return 0, false
		}
		f, ok := c.formatText(deref(n).Value, path, syms)
		if !ok {
			return 0, false
		}
		d.RangeExpr = &f
		if !f.IsLiteral() {
			return -1, true
		}
		r, err := ParseIntRange(f.String())
		if err != nil {
			c.errorf(path, "%v", err)
			return 0, false
		}
		if r.Len() > maxRangeItems {
			c.errorf(path, "has %d values, more than the maximum of %d", r.Len(), maxRangeItems)
			return 0, false
		}
		return r.Len(), true
	}
	items, ok := c.list(n, path, 1)
	if !ok {
		return 0, false
	}
	if len(items) > maxRangeItems {
		c.errorf(path, "has %d values, more than the maximum of %d", len(items), maxRangeItems)
		ok = false
	}
	for i, it := range items {
		f, iok := c.taskRangeItem(it, index(path, i), d.Type, syms)
		ok = ok && iok
		d.RangeItems = append(d.RangeItems, f)
	}
	return int64(len(items)), ok
}

// taskRangeItem reads one value of a range list: a literal of the
// parameter's type or a format string that must resolve to one.
func (c *checker) taskRangeItem(n *node, path string, t TaskParameterType, syms symbols) (FormatString, bool) {
	if isStringNode(n) && isFormatString(deref(n).Value) {
		return c.formatText(deref(n).Value, path, syms)
	}
	switch t {
	case TaskInt, TaskChunkInt:
		v, ok := c.integer(n, path, true)
		return Literal(strconv.FormatInt(v, 10)), ok
	case TaskFloat:
		_, s, ok := c.number(n, path, true)
		return Literal(strings.TrimSpace(s)), ok
	}
	s, ok := c.str(n, path)
	switch {
	case !ok:
	case s == "":
		c.errorf(path, "must not be empty")
		ok = false
	case runeLen(s) > maxTaskStringValue:
		c.errorf(path, "is %d characters long, more than the maximum of %d", runeLen(s), maxTaskStringValue)
		ok = false
	}
	return Literal(s), ok
}

func (c *checker) chunks(n *node, path string, syms symbols) *Chunks {
	raw, ok := c.object(n, path, "defaultTaskCount", "targetRuntimeSeconds", "rangeConstraint")
	if !ok || !c.require(raw, path, "defaultTaskCount", "rangeConstraint") {
		return nil
	}
	ch := &Chunks{}
	if v := c.chunkInt(raw["defaultTaskCount"], field(path, "defaultTaskCount"), syms, 1); v != nil {
		ch.DefaultTaskCount = *v
	}
	if v := raw["targetRuntimeSeconds"]; v != nil {
		ch.TargetRuntimeSeconds = c.chunkInt(v, field(path, "targetRuntimeSeconds"), syms, 0)
	}
	ch.RangeConstraint, _ = c.enum(raw["rangeConstraint"], field(path, "rangeConstraint"), "CONTIGUOUS", "NONCONTIGUOUS")
	return ch
}

// chunkInt reads an <integer> | <intstring> @fmtstring of at least min.
func (c *checker) chunkInt(n *node, path string, syms symbols, min int64) *IntOrFormat {
	if isStringNode(n) && isFormatString(deref(n).Value) {
		f, ok := c.formatText(deref(n).Value, path, syms)
		if !ok {
			return nil
		}
		return &IntOrFormat{Format: &f}
	}
	v, ok := c.integer(n, path, true)
	if !ok {
		return nil
	}
	if v < min {
		c.errorf(path, "%d is less than the minimum of %d", v, min)
		return nil
	}
	return &IntOrFormat{Value: v}
}
