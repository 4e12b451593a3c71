package openjd

import (
	"fmt"
	"strings"
	"testing"

	"github.com/berth-run/berth/openjd/expr"
)

// exprJob is a job template with EXPR whose step is given in YAML flow
// form, with job parameters X (INT) and Paths (LIST[PATH]).
func exprJob(step string) []byte {
	return []byte(`specificationVersion: jobtemplate-2023-09
extensions: [EXPR, FEATURE_BUNDLE_1]
name: J
parameterDefinitions:
- {name: X, type: INT, default: 5}
- {name: Items, type: "LIST[STRING]", default: [a, b]}
steps:
- ` + step + "\n")
}

func TestLetRules(t *testing.T) {
	t.Parallel()
	run := `script: {actions: {onRun: {command: echo, args: ["{{ y }}"]}}}`
	tests := []struct {
		name, step string
		want       string // substring of the error; "" for valid
	}{
		{"chain", `{name: S, let: ["x = Param.X * 2", "y = x + 1"], ` + run + `}`, ""},
		{"step and script", `{name: S, let: ["x = 1"], script: {let: ["y = x + 1"], actions: {onRun: {command: echo, args: ["{{ y }}"]}}}}`, ""},
		{"simple action", `{name: S, bash: {let: ["y = 'hi'"], script: "echo {{ y }}"}}`, ""},
		{"duplicate", `{name: S, let: ["y = 1", "y = 2"], ` + run + `}`, "steps[0].let[1]: y is bound twice"},
		{"shadows step", `{name: S, let: ["y = 1"], script: {let: ["y = 2"], actions: {onRun: {command: echo}}}}`, "steps[0].script.let[0]: y shadows"},
		{"uppercase", `{name: S, let: ["Y = 1"], ` + run + `}`, `steps[0].let[0]: "Y" is not a valid name`},
		{"no equals", `{name: S, let: ["y"], ` + run + `}`, "is not a binding of the form"},
		{"no expression", `{name: S, let: ["y = "], ` + run + `}`, "has no expression"},
		{"self", `{name: S, let: ["y = y + 1"], ` + run + `}`, "y refers to itself"},
		{"later", `{name: S, let: ["y = z", "z = 1"], ` + run + `}`, "steps[0].let[0]: y: z is not defined here"},
		{"empty", `{name: S, let: [], ` + run + `}`, "steps[0].let: must have at least 1"},
		{"type error", `{name: S, let: ["z = Param.X", "y = z + 'a'"], ` + run + `}`, "steps[0].let[1]: y = z + 'a': column"},
		{"loop var shadows", `{name: S, let: ["y = 1"], script: {actions: {onRun: {command: echo, args: ["{{ [y for y in Param.Items] }}"]}}}}`, "the loop variable y shadows a let binding"},
		{"loop var in let", `{name: S, let: ["x = 1", "y = [x for x in Param.Items]"], ` + run + `}`, "steps[0].let[1]: y: the loop variable x shadows"},
		{"task param in step let", `{name: S, let: ["y = Task.Param.F"], parameterSpace: {taskParameterDefinitions: [{name: F, type: INT, range: "1-2"}]}, ` + run + `}`, "Task.Param.F is not defined here"},
		{"task param in script let", `{name: S, parameterSpace: {taskParameterDefinitions: [{name: F, type: INT, range: "1-2"}]}, script: {let: ["y = Task.Param.F"], actions: {onRun: {command: echo, args: ["{{ y }}"]}}}}`, ""},
		{"step name", `{name: S, let: ["y = Step.Name + Job.Name"], ` + run + `}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseJobTemplate(exprJob(tc.step), Options{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
		})
	}
}

func TestLetLimits(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	for i := range maxLets + 1 {
		fmt.Fprintf(&b, "\"v%d = %d\", ", i, i)
	}
	_, err := ParseJobTemplate(exprJob(`{name: S, let: [`+b.String()+`], script: {actions: {onRun: {command: echo}}}}`), Options{})
	if err == nil || !strings.Contains(err.Error(), "steps[0].let: has 51 bindings, more than the maximum of 50") {
		t.Fatalf("got %v", err)
	}
	long := "v" + strings.Repeat("x", maxLetNameLen)
	_, err = ParseJobTemplate(exprJob(`{name: S, let: ["`+long+` = 1"], script: {actions: {onRun: {command: echo}}}}`), Options{})
	if err == nil || !strings.Contains(err.Error(), "more than the maximum of 512") {
		t.Fatalf("got %v", err)
	}
}

func TestLetNeedsExpr(t *testing.T) {
	t.Parallel()
	_, err := ParseJobTemplate([]byte(`specificationVersion: jobtemplate-2023-09
name: J
steps:
- name: S
  let: ["x = 1"]
  script: {actions: {onRun: {command: echo}}}
`), Options{})
	if err == nil || !strings.Contains(err.Error(), "steps[0].let: let bindings need the EXPR extension") {
		t.Fatalf("got %v", err)
	}
}

func TestLetsAtJobCreation(t *testing.T) {
	t.Parallel()
	jt, err := ParseJobTemplate(exprJob(`{name: S, let: ["n = Param.X - 3", "r = '1-' + string(n)"], `+
		`parameterSpace: {taskParameterDefinitions: [{name: F, type: INT, range: "{{ r }}"}, {name: I, type: STRING, range: "{{ Param.Items }}"}]}, `+
		`script: {actions: {onRun: {command: echo}}}}`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	job, err := CreateJob(jt, JobInput{TemplateDir: "/t", WorkingDir: "/w"})
	if err != nil {
		t.Fatal(err)
	}
	if n := job.Steps[0].TaskCount(); n != 4 {
		t.Fatalf("got %d tasks, want 2*2", n)
	}
	scope, err := BindLets(MapScope{"Param.X": "5"}, jt.Steps[0].Let)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := scope.Lookup("r"); v != "1-2" {
		t.Fatalf("r = %q", v)
	}
	if vs, ok := scope.(ValueScope); !ok {
		t.Fatal("not a ValueScope")
	} else if v, _ := vs.LookupValue("n"); v.Kind() != expr.KInt {
		t.Fatalf("n is %s", v.Type())
	}
}
