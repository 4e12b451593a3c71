package openjd

import (
	"strings"
	"testing"
)

func listJob(params string) []byte {
	return []byte("specificationVersion: jobtemplate-2023-09\nextensions: [EXPR]\nname: J\nparameterDefinitions:\n" + params +
		"steps:\n- name: S\n  script: {actions: {onRun: {command: echo}}}\n")
}

func TestListParameters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, params string
		given        map[string]string
		want         string // the value of the first parameter, or an error substring
		fails        bool
	}{
		{"string default", "- {name: L, type: \"list[string]\", default: [a, \"b\"]}\n", nil, `["a", "b"]`, false},
		{"int supplied", "- {name: L, type: \"LIST[INT]\", item: {maxValue: 10}}\n", map[string]string{"L": "[1, 10]"}, `[1, 10]`, false},
		{"int too big", "- {name: L, type: \"LIST[INT]\", item: {maxValue: 10}}\n", map[string]string{"L": "[1, 11]"}, "parameters.L: item 1: 11 is greater than maxValue 10", true},
		{"float text kept", "- {name: L, type: \"LIST[FLOAT]\", default: [0.50, 2]}\n", nil, `[0.50, 2]`, false},
		{"bool spellings", "- {name: L, type: \"LIST[BOOL]\", default: [true, \"no\", 1]}\n", nil, `[true, false, true]`, false},
		{"nested", "- {name: L, type: \"LIST[LIST[INT]]\", item: {maxLength: 2, item: {minValue: 0}}}\n", map[string]string{"L": "[[1, 2], []]"}, `[[1, 2], []]`, false},
		{"nested too long", "- {name: L, type: \"LIST[LIST[INT]]\", item: {maxLength: 2}}\n", map[string]string{"L": "[[1, 2, 3]]"}, "item 0: has 3 items, more than maxLength 2", true},
		{"too few", "- {name: L, type: \"LIST[STRING]\", minLength: 2}\n", map[string]string{"L": `["a"]`}, "has 1 items, fewer than minLength 2", true},
		{"not json", "- {name: L, type: \"LIST[STRING]\"}\n", map[string]string{"L": `a,b`}, "is not a JSON list", true},
		{"wrong item", "- {name: L, type: \"LIST[INT]\"}\n", map[string]string{"L": `["x"]`}, "item 0", true},
		{"path default joined", "- {name: L, type: \"LIST[PATH]\", default: [a/b, ./c]}\n", nil, `["/t/a/b", "/t/c"]`, false},
		{"path supplied joined", "- {name: L, type: \"LIST[PATH]\"}\n", map[string]string{"L": `["a", "/abs"]`}, `["/w/a", "/abs"]`, false},
		{"path default escapes", "- {name: L, type: \"LIST[PATH]\", default: [\"a/../..\"]}\n", nil, "leads outside the template's directory", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			jt, err := ParseJobTemplate(listJob(tc.params), Options{})
			if err != nil {
				t.Fatal(err)
			}
			job, err := CreateJob(jt, JobInput{Parameters: tc.given, TemplateDir: "/t", WorkingDir: "/w"})
			switch {
			case tc.fails && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			case tc.fails:
			case err != nil:
				t.Fatal(err)
			case job.Parameters[0].Value != tc.want:
				t.Fatalf("got %s, want %s", job.Parameters[0].Value, tc.want)
			}
		})
	}
}

func TestListParameterDefinitions(t *testing.T) {
	t.Parallel()
	tests := []struct{ params, want string }{
		{"- {name: L, type: \"LIST[INT]\", item: {minLength: 1}}\n", "parameterDefinitions[0].item.minLength: unknown field"},
		{"- {name: L, type: \"LIST[BOOL]\", item: {}}\n", "parameterDefinitions[0].item: is not a field of a LIST[BOOL] parameter"},
		{"- {name: L, type: \"LIST[STRING]\", allowedValues: [a]}\n", "parameterDefinitions[0].allowedValues: is not a field"},
		{"- {name: L, type: \"LIST[STRING]\", maxLength: 1, default: [a, b]}\n", "parameterDefinitions[0].default: has 2 items, more than maxLength 1"},
		{"- {name: L, type: \"LIST[STRING]\", item: {allowedValues: [a]}, default: [b]}\n", "parameterDefinitions[0].default: item 0"},
		{"- {name: L, type: \"LIST[INT]\", default: 3}\n", "parameterDefinitions[0].default: must be a list"},
		{"- {name: L, type: \"LIST[INT]\", userInterface: {control: SPIN_BOX}}\n", "parameterDefinitions[0].userInterface.control"},
		{"- {name: L, type: \"LIST[INT]\", item: {minValue: 5, maxValue: 1}}\n", "parameterDefinitions[0].item.minValue: 5 is greater than maxValue 1"},
	}
	for _, tc := range tests {
		_, err := ParseJobTemplate(listJob(tc.params), Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want an error with %q, got %v", tc.params, tc.want, err)
		}
	}
	noExpr := []byte("specificationVersion: jobtemplate-2023-09\nname: J\nparameterDefinitions:\n- {name: L, type: \"LIST[INT]\"}\n" +
		"steps:\n- name: S\n  script: {actions: {onRun: {command: echo}}}\n")
	if err := Check(noExpr, Options{}); err == nil || !strings.Contains(err.Error(), "parameterDefinitions[0].type") {
		t.Errorf("LIST[INT] without EXPR: got %v", err)
	}
}

func TestListParameterMerge(t *testing.T) {
	t.Parallel()
	env, err := ParseEnvironmentTemplate([]byte(`specificationVersion: environment-2023-09
extensions: [EXPR]
parameterDefinitions:
- {name: L, type: "LIST[INT]", default: [1, 2, 3], item: {allowedValues: [1, 2, 3, 4]}}
environment: {name: E, variables: {A: b}}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	job := []ParameterDefinition{{Name: "L", Type: ParamListInt, MaxLength: ptr(int64(2))}}
	if _, err := MergeParameterDefinitions(job, env); err == nil || !strings.Contains(err.Error(), "more than maxLength 2") {
		t.Fatalf("got %v", err)
	}
	job[0].MaxLength = nil
	job[0].Item = &ItemConstraints{AllowedValues: []string{"5"}}
	if _, err := MergeParameterDefinitions(job, env); err == nil || !strings.Contains(err.Error(), "no allowed value in common") {
		t.Fatalf("got %v", err)
	}
}

func TestMappedValue(t *testing.T) {
	t.Parallel()
	p := ParameterValue{Name: "L", Type: ParamListPath, Value: `["/a/x", "/b/y"]`}
	got := p.MappedValue(func(s string) string { return strings.Replace(s, "/a", "/m", 1) })
	if got != `["/m/x", "/b/y"]` {
		t.Fatalf("got %s", got)
	}
}

func ptr[T any](v T) *T { return &v }
