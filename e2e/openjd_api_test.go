package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

const helloTemplate = `specificationVersion: jobtemplate-2023-09
name: Hello {{Param.Who}}
parameterDefinitions:
- {name: Who, type: STRING}
steps:
- name: Greet
  script:
    actions:
      onRun: {command: echo, args: ["hello {{Param.Who}}"]}
`

// TestOpenJDSubmitInvalid sends bad OpenJD submissions to the API: each is
// refused with 400 naming the field at fault, and nothing is stored.
func TestOpenJDSubmitInvalid(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	c := s.Client()
	ctx := context.Background()
	good := func() *job.OpenJDJob {
		return &job.OpenJDJob{Template: helloTemplate, Parameters: map[string]string{"Who": "you"}}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*job.OpenJDJob)
		field string
	}{
		{"no template", func(o *job.OpenJDJob) { o.Template = "" }, "template"},
		{"not a template", func(o *job.OpenJDJob) { o.Template = "specificationVersion: nope\n" }, "template"},
		{"missing parameter", func(o *job.OpenJDJob) { o.Parameters = nil }, "parameters"},
		{"bad environment", func(o *job.OpenJDJob) { o.Environments = []string{"x: 1"} }, "environments"},
		{"unknown extension", func(o *job.OpenJDJob) { o.Extensions = []string{"NOPE"} }, "extensions[0]"},
		{"bad path mapping", func(o *job.OpenJDJob) { o.PathMappingRules = []byte(`{"version":"x"}`) }, "path_mapping_rules"},
		{"relative working dir", func(o *job.OpenJDJob) { o.WorkingDir = "here" }, "working_dir"},
		{"container without image", func(o *job.OpenJDJob) { o.Container = &job.SessionContainer{} }, "container.image"},
		{"bad container setting", func(o *job.OpenJDJob) {
			o.Container = &job.SessionContainer{Image: "busybox", Extensions: map[string]string{"memory": "lots"}}
		}, "container.extensions.memory"},
		{"bad pool", func(o *job.OpenJDJob) { o.Pool = "a b" }, "pool"},
	} {
		sub := good()
		tc.edit(sub)
		_, err := c.SubmitOpenJD(ctx, sub)
		var ae *client.APIError
		require.True(t, errors.As(err, &ae), "%s: %v", tc.name, err)
		require.Equal(t, 400, ae.Status, tc.name)
		require.Equal(t, tc.field, ae.Field, "%s: %v", tc.name, err)
	}
	jobs, err := c.Jobs(ctx, client.ListParams{})
	require.NoError(t, err)
	require.Empty(t, jobs.Jobs, "nothing was stored")

	res, err := c.SubmitOpenJD(ctx, good())
	require.NoError(t, err)
	require.Equal(t, "Hello you", res.Name)
	require.Len(t, res.Steps, 1)
	j, err := c.Job(ctx, res.Steps[0].Job)
	require.NoError(t, err)
	require.Equal(t, "Hello you/Greet", j.Name)
	require.Equal(t, fmt.Sprint(res.Submission), j.Labels[job.OpenJDLabel])
}

// TestOpenJDSubmitLarge submits a template of more than 1 MiB (its step
// embeds 17 files of 64 KiB) through the Go client: it runs, every file in
// place.
func TestOpenJDSubmitLarge(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	c := s.Client()
	var b strings.Builder
	b.WriteString("specificationVersion: jobtemplate-2023-09\nname: Large\nsteps:\n- name: Big\n  script:\n    embeddedFiles:\n")
	var cat []string
	for i := range 17 {
		fmt.Fprintf(&b, "    - name: F%d\n      type: TEXT\n      data: %s\n", i, strings.Repeat("x", 64<<10))
		cat = append(cat, fmt.Sprintf("\"{{Task.File.F%d}}\"", i))
	}
	fmt.Fprintf(&b, "    actions:\n      onRun: {command: sh, args: [-c, 'cat \"$@\" | wc -c', sh, %s]}\n", strings.Join(cat, ", "))
	require.Greater(t, b.Len(), 1<<20)
	res, err := c.SubmitOpenJD(context.Background(), &job.OpenJDJob{Template: b.String()})
	require.NoError(t, err)
	r := s.Berth("", "wait", fmt.Sprint(res.Job))
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr+s.Berth("", "logs", fmt.Sprint(res.Job)).Stdout)
	logs := s.Berth("", "logs", fmt.Sprint(res.Job)).Stdout
	require.Contains(t, logs, fmt.Sprint(17*(64<<10)))
}
