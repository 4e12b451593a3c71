package openjd

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestCreateJob(t *testing.T) {
	t.Parallel()
	jt, err := ParseJobTemplate([]byte(`
specificationVersion: jobtemplate-2023-09
name: "Shot {{Param.Shot}}"
parameterDefinitions:
- {name: Shot, type: STRING, default: sh030, allowedValues: [sh010, sh020, sh030]}
- {name: Out, type: PATH, default: renders}
- {name: Frames, type: INT, default: "010"}
steps:
- name: Render
  parameterSpace:
    taskParameterDefinitions:
    - {name: F, type: INT, range: "1-{{Param.Frames}}"}
  script: {actions: {onRun: {command: render}}}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseEnvironmentTemplate([]byte(`
specificationVersion: environment-2023-09
parameterDefinitions:
- {name: Shot, type: STRING, allowedValues: [sh020, sh030, sh040]}
environment: {name: E, variables: {SHOT: "{{Param.Shot}}"}}
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := JobInput{Environments: []*EnvironmentTemplate{env}, TemplateDir: "/tmpl", WorkingDir: "/work",
		Parameters: map[string]string{"Shot": "sh020"}}
	job, err := CreateJob(jt, in)
	if err != nil {
		t.Fatal(err)
	}
	got := job.Scope()
	want := MapScope{"Param.Shot": "sh020", "Param.Out": filepath.FromSlash("/tmpl/renders"), "Param.Frames": "10"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if job.Name != "Shot sh020" || job.Steps[0].TaskCount() != 10 {
		t.Errorf("name %q, %d tasks", job.Name, job.Steps[0].TaskCount())
	}

	// The job template allows sh010, but the environment template does
	// not: the merged definition does not either.
	in.Parameters = map[string]string{"Shot": "sh010", "Nope": "1"}
	_, err = CreateJob(jt, in)
	var es Errors
	if !errors.As(err, &es) || len(es) != 2 || es[0].Path != "parameters.Nope" || es[1].Path != "parameters.Shot" {
		t.Fatalf("got %v", err)
	}
	in.Parameters = map[string]string{"Out": "../x"}
	in.Environments = nil
	if job, err = CreateJob(jt, in); err != nil || job.Scope()["Param.Out"] != "/x" {
		t.Fatalf("a relative value is joined with the working directory: %v %v", err, job.Scope())
	}
}
