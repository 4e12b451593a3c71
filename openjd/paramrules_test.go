package openjd

import (
	"fmt"
	"strings"
	"testing"
)

// TestParameterRules checks the RFC 0007 rules for the values of BOOL and
// LIST parameters, in defaults (Check) and in submitted values
// (CreateJob).
func TestParameterRules(t *testing.T) {
	t.Parallel()
	tmpl := func(def string) []byte {
		return []byte(fmt.Sprintf(`specificationVersion: jobtemplate-2023-09
extensions: [EXPR]
name: J
parameterDefinitions:
- %s
steps:
- name: S
  script: {actions: {onRun: {command: echo, args: ["{{ Param.P }}"]}}}
`, def))
	}
	tests := []struct {
		def, value string // value "" uses the default
		want       string // Param.P, or the error
		bad        bool
	}{
		// BOOL: true/false, 1/0 and 1.0/0.0, and the strings of bool().
		{`{name: P, type: BOOL, default: true}`, "", "true", false},
		{`{name: P, type: BOOL, default: 1}`, "", "true", false},
		{`{name: P, type: BOOL, default: 0}`, "", "false", false},
		{`{name: P, type: BOOL, default: 1.0}`, "", "true", false},
		{`{name: P, type: BOOL, default: 0.0}`, "", "false", false},
		{`{name: P, type: BOOL, default: "Yes"}`, "", "true", false},
		{`{name: P, type: BOOL, default: "off"}`, "", "false", false},
		{`{name: P, type: BOOL}`, "ON", "true", false},
		{`{name: P, type: BOOL}`, "1.0", "true", false},
		{`{name: P, type: BOOL}`, "0", "false", false},
		{`{name: P, type: BOOL, default: 2}`, "", "default: must be a boolean", true},
		{`{name: P, type: BOOL, default: 0.5}`, "", "default: must be a boolean", true},
		{`{name: P, type: BOOL, default: "maybe"}`, "", "default: must be a boolean", true},
		{`{name: P, type: BOOL}`, "2", "", true},
		{`{name: P, type: BOOL, default: true, allowedValues: [true]}`, "", "allowedValues", true},
		{`{name: P, type: "LIST[BOOL]", default: [1, "no", 0.0, true]}`, "", "[true, false, false, true]", false},
		{`{name: P, type: "LIST[BOOL]", default: [2]}`, "", "item 0", true},
		// LIST[STRING] and LIST[PATH] items are strings.
		{`{name: P, type: "LIST[STRING]", default: [a, "1"]}`, "", `["a", "1"]`, false},
		{`{name: P, type: "LIST[STRING]", default: [123, 456]}`, "", "item 0: must be a string, not a number", true},
		{`{name: P, type: "LIST[STRING]", default: [true]}`, "", "item 0: must be a string, not a boolean", true},
		{`{name: P, type: "LIST[STRING]"}`, `["a", 1]`, "item 1: must be a string, not a number", true},
		{`{name: P, type: "LIST[PATH]", default: [1, 2]}`, "", "item 0: must be a string, not a number", true},
		{`{name: P, type: "LIST[PATH]"}`, `[["a"]]`, "item 0: must be a path value, not a list", true},
		{`{name: P, type: "LIST[INT]", default: ["not", "ints"]}`, "", "item 0", true},
		// LIST[PATH] item constraints apply to the default as written, and
		// to the items once joined with the template's directory.
		{`{name: P, type: "LIST[PATH]", default: [""], item: {minLength: 1}}`, "", "item 0: is 0 characters long, less than minLength 1", true},
		{`{name: P, type: "LIST[PATH]", default: ["a", "bbb"], item: {minLength: 3}}`, "", "item 0", true},
		{`{name: P, type: "LIST[PATH]", default: ["/x/a.blend", "/x/z.blend"], item: {allowedValues: ["/x/a.blend", "/x/b.blend"]}}`, "", "item 1", true},
		{`{name: P, type: "LIST[PATH]", default: ["a"], item: {allowedValues: ["a"]}}`, "", `"/t/a" is not one of the allowed values`, true},
		{`{name: P, type: "LIST[PATH]", item: {allowedValues: ["/x/a", "/x/b"]}}`, `["/x/b"]`, `["/x/b"]`, false},
		{`{name: P, type: "LIST[PATH]", item: {maxLength: 3}}`, `["/x/abc"]`, "item 0", true},
	}
	for _, tt := range tests {
		data := tmpl(tt.def)
		err := Check(data, Options{})
		var got string
		if err == nil {
			jt, _ := ParseJobTemplate(data, Options{})
			params := map[string]string{}
			if tt.value != "" {
				params["P"] = tt.value
			}
			var job *Job
			if job, err = CreateJob(jt, JobInput{TemplateDir: "/t", WorkingDir: "/w", Parameters: params}); err == nil {
				got = job.Scope()["Param.P"]
			}
		}
		switch {
		case tt.bad && err == nil:
			t.Errorf("%s value %q: accepted (%s), want an error with %q", tt.def, tt.value, got, tt.want)
		case tt.bad && !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s value %q: error %v, want one with %q", tt.def, tt.value, err, tt.want)
		case !tt.bad && err != nil:
			t.Errorf("%s value %q: %v", tt.def, tt.value, err)
		case !tt.bad && got != tt.want:
			t.Errorf("%s value %q: Param.P = %s, want %s", tt.def, tt.value, got, tt.want)
		}
	}
}
