package openjd

import (
	"fmt"
	"strconv"
	"strings"
)

// FieldError is one problem found in a template: where it is and why.
type FieldError struct {
	// Path locates the field inside the template, e.g.
	// "steps[1].script.actions.onRun.timeout". Empty for the document itself.
	Path string
	// Reason says what is wrong, in words.
	Reason string
}

func (e FieldError) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// Errors is every problem found in a template, in document order.
type Errors []FieldError

func (es Errors) Error() string {
	switch len(es) {
	case 0:
		return "no errors"
	case 1:
		return es[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d errors:", len(es))
	for _, e := range es {
		b.WriteString("\n  ")
		b.WriteString(e.Error())
	}
	return b.String()
}

// collector gathers errors while a template is walked, so that one pass
// reports everything instead of stopping at the first problem.
type collector struct {
	errs Errors
}

func (c *collector) errorf(path, format string, args ...any) {
	c.errs = append(c.errs, FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
}

func (c *collector) err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs
}

// Path helpers. Paths are built only when descending, never parsed back.

func field(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func index(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
