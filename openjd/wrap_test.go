package openjd

import (
	"errors"
	"strings"
	"testing"
)

const wrapJob = `
specificationVersion: jobtemplate-2023-09
extensions: [WRAP_ACTIONS, EXPR, FEATURE_BUNDLE_1]
name: J
jobEnvironments:
- name: W
  script:
    actions:
      onWrapEnvEnter: {command: "{{WrappedAction.Command}}", args: ["{{WrappedAction.Args}}", "{{WrappedEnv.Name}}"]}
      onWrapTaskRun:
        command: sh
        args: ["{{WrappedStep.Name}}", "{{ repr_sh(WrappedAction.Environment) }}"]
        timeout: "{{WrappedAction.Timeout}}"
        cancelation:
          mode: "{{WrappedAction.Cancelation.Mode}}"
          notifyPeriodInSeconds: "{{WrappedAction.Cancelation.NotifyPeriodInSeconds}}"
      onWrapEnvExit: {command: echo, args: ["{{WrappedEnv.Name}}"]}
steps:
- name: S
  script: {actions: {onRun: {command: echo}}}
`

func TestWrapHooksParse(t *testing.T) {
	t.Parallel()
	jt, err := ParseJobTemplate([]byte(wrapJob), Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := &jt.JobEnvironments[0]
	if !e.Wraps() || e.Script.OnWrapEnvEnter == nil || e.Script.OnWrapEnvExit == nil {
		t.Fatalf("wrap hooks not read: %+v", e.Script)
	}
	c := e.Script.OnWrapTaskRun.Cancelation
	if c == nil || c.ModeFormat == nil {
		t.Fatalf("format-string mode not kept: %+v", c)
	}
	if _, err := CreateJob(jt, JobInput{WorkingDir: t.TempDir()}); err != nil {
		t.Fatalf("one wrapping environment refused: %v", err)
	}
}

func TestWrapHooksErrors(t *testing.T) {
	t.Parallel()
	env := func(exts, actions string) string {
		return "specificationVersion: environment-2023-09\nextensions: [" + exts + "]\n" +
			"environment:\n  name: E\n  script:\n    embeddedFiles: [{name: F, type: TEXT, data: \"x\"}]\n    actions:\n" + actions
	}
	hooks := "      onWrapEnvEnter: {command: a}\n      onWrapTaskRun: {command: a}\n      onWrapEnvExit: {command: a}\n"
	cases := []struct{ name, doc, path, reason string }{
		{"no extension", env("EXPR", hooks), "environment.script.actions.onWrapTaskRun", "WRAP_ACTIONS"},
		{"no EXPR", env("WRAP_ACTIONS", hooks), "extensions", "EXPR"},
		{"partial", env("WRAP_ACTIONS, EXPR", "      onWrapTaskRun: {command: a}\n"), "environment.script.actions", "all three"},
		{"outside a hook", env("WRAP_ACTIONS, EXPR", hooks+"      onEnter: {command: \"{{WrappedAction.Command}}\"}\n"),
			"environment.script.actions.onEnter.command", "not defined here"},
		{"step name in an env hook", env("WRAP_ACTIONS, EXPR", strings.Replace(hooks, "onWrapEnvExit: {command: a}",
			"onWrapEnvExit: {command: \"{{WrappedStep.Name}}\"}", 1)), "environment.script.actions.onWrapEnvExit.command", "not defined here"},
		{"env name in the task hook", env("WRAP_ACTIONS, EXPR", strings.Replace(hooks, "onWrapTaskRun: {command: a}",
			"onWrapTaskRun: {command: \"{{WrappedEnv.Name}}\"}", 1)), "environment.script.actions.onWrapTaskRun.command", "not defined here"},
		{"mode format without FEATURE_BUNDLE_1", env("WRAP_ACTIONS, EXPR", strings.Replace(hooks, "onWrapTaskRun: {command: a}",
			"onWrapTaskRun: {command: a, cancelation: {mode: \"{{WrappedAction.Cancelation.Mode}}\"}}", 1)),
			"environment.script.actions.onWrapTaskRun.cancelation.mode", "FEATURE_BUNDLE_1"},
	}
	for _, tc := range cases {
		_, err := ParseEnvironmentTemplate([]byte(tc.doc), Options{})
		var es Errors
		if !errors.As(err, &es) {
			t.Errorf("%s: want Errors, got %v", tc.name, err)
			continue
		}
		found := false
		for _, e := range es {
			found = found || e.Path == tc.path && strings.Contains(e.Reason, tc.reason)
		}
		if !found {
			t.Errorf("%s: no error at %s about %q in:\n%v", tc.name, tc.path, tc.reason, err)
		}
	}
	// Refused where the caller does not support the extension.
	if _, err := ParseEnvironmentTemplate([]byte(env("WRAP_ACTIONS, EXPR", hooks)),
		Options{Extensions: []Extension{ExprExtension}}); err == nil {
		t.Error("WRAP_ACTIONS accepted though not supported")
	}
}

func TestWrapSingleLayer(t *testing.T) {
	t.Parallel()
	// A step environment that wraps inside a job environment that does.
	doc := strings.Replace(wrapJob, "- name: S\n", "- name: S\n  stepEnvironments:\n  - name: W2\n    script:\n      actions:\n"+
		"        onWrapEnvEnter: {command: a}\n        onWrapTaskRun: {command: a}\n        onWrapEnvExit: {command: a}\n", 1)
	jt, err := ParseJobTemplate([]byte(doc), Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = CreateJob(jt, JobInput{WorkingDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "steps[0].stepEnvironments[0]") || !strings.Contains(err.Error(), "one wrapping environment") {
		t.Fatalf("two wrap layers: got %v", err)
	}
	// Two environment templates that wrap.
	et, err := ParseEnvironmentTemplate([]byte("specificationVersion: environment-2023-09\nextensions: [WRAP_ACTIONS, EXPR]\n"+
		"environment: {name: E, script: {actions: {onWrapEnvEnter: {command: a}, onWrapTaskRun: {command: a}, onWrapEnvExit: {command: a}}}}\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := ParseJobTemplate([]byte("specificationVersion: jobtemplate-2023-09\nname: J\nsteps:\n- name: S\n  script: {actions: {onRun: {command: echo}}}\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := CreateJob(plain, JobInput{WorkingDir: t.TempDir(), Environments: []*EnvironmentTemplate{et}}); err != nil {
		t.Fatalf("one wrapping environment template refused: %v", err)
	}
	_, err = CreateJob(plain, JobInput{WorkingDir: t.TempDir(), Environments: []*EnvironmentTemplate{et, et}})
	if err == nil || !strings.Contains(err.Error(), "environments[1].environment") {
		t.Fatalf("two wrapping environment templates: got %v", err)
	}
}

func TestCancelationResolveMode(t *testing.T) {
	t.Parallel()
	f, err := ParseFormatString("{{ Param.M }}", exprParser{types: symbols{"Param.M": anyType}})
	if err != nil {
		t.Fatal(err)
	}
	c := &Cancelation{ModeFormat: &f}
	if m, ok, err := c.ResolveMode(MapScope{"Param.M": "NOTIFY_THEN_TERMINATE"}); err != nil || !ok || m != "NOTIFY_THEN_TERMINATE" {
		t.Errorf("got %q %v %v", m, ok, err)
	}
	if _, _, err := c.ResolveMode(MapScope{"Param.M": "KILL"}); err == nil {
		t.Error("an unknown mode was accepted")
	}
	if m, ok, err := (&Cancelation{Mode: "TERMINATE"}).ResolveMode(nil); err != nil || !ok || m != "TERMINATE" {
		t.Errorf("literal mode: got %q %v %v", m, ok, err)
	}
}
