package openjd

import (
	"errors"
	"strings"
	"testing"
)

func TestErrorsNamePathsAndCollectAll(t *testing.T) {
	t.Parallel()
	_, err := ParseJobTemplate([]byte(`
specificationVersion: jobtemplate-2023-09
name: J
parameterDefinitions:
- {name: Frames, type: INT, default: 1.5}
steps:
- name: A
  script: {actions: {onRun: {command: echo, args: ["{{Task.Param.Nope}}"]}}}
- name: B
  parameterSpace:
    taskParameterDefinitions:
    - {name: F, type: INT, range: "1-10,5-15"}
  dependencies: [{dependsOn: C}]
  script: {actions: {onRun: {command: echo, timeout: 0}}}
`), Options{})
	var es Errors
	if !errors.As(err, &es) {
		t.Fatalf("want Errors, got %v", err)
	}
	want := []string{
		"parameterDefinitions[0].default",
		"steps[0].script.actions.onRun.args[0]",
		"steps[1].parameterSpace.taskParameterDefinitions[0].range",
		"steps[1].dependencies[0].dependsOn",
		"steps[1].script.actions.onRun.timeout",
	}
	for _, p := range want {
		found := false
		for _, e := range es {
			found = found || e.Path == p
		}
		if !found {
			t.Errorf("no error at %s in:\n%v", p, err)
		}
	}
}

func TestFormatStringResolve(t *testing.T) {
	t.Parallel()
	f, err := ParseFormatString("frame {{ Task.Param.Frame }} of {{Param.Shot}}", NameParser{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Resolve(MapScope{"Task.Param.Frame": "7", "Param.Shot": "sh010"})
	if err != nil || got != "frame 7 of sh010" {
		t.Fatalf("got %q, %v", got, err)
	}
	if _, err := ParseFormatString("{{ Param.X + 1 }}", NameParser{}); err == nil || !strings.Contains(err.Error(), "EXPR") {
		t.Errorf("expected an EXPR error, got %v", err)
	}
}

func TestSupportedExtensionsOption(t *testing.T) {
	t.Parallel()
	tmpl := []byte("specificationVersion: jobtemplate-2023-09\nextensions: [FEATURE_BUNDLE_1]\nname: J\n" +
		"steps:\n- name: S\n  bash: {script: echo hi}\n")
	if err := Check(tmpl, Options{}); err != nil {
		t.Fatalf("default options: %v", err)
	}
	if err := Check(tmpl, Options{Extensions: []Extension{TaskChunking}}); err == nil {
		t.Fatal("FEATURE_BUNDLE_1 accepted though not supported")
	}
}
