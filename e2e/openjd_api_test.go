package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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
	require.Equal(t, fmt.Sprint(res.Job), j.Labels[job.OpenJDLabel], "the steps carry the whole job's ID")
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

const twoStepTemplate = `specificationVersion: jobtemplate-2023-09
name: Two
parameterDefinitions:
- {name: Sleep, type: INT, default: 0}
steps:
- name: A
  parameterSpace:
    taskParameterDefinitions:
    - {name: N, type: INT, range: "1-3"}
  script:
    actions:
      onRun: {command: echo, args: ["a{{Task.Param.N}}"]}
- name: B
  dependencies: [{dependsOn: A}]
  script:
    actions:
      onRun: {command: sh, args: ["-c", "sleep {{Param.Sleep}}; echo b"]}
`

// TestOpenJDWholeJob acts on an OpenJD job as one job: show sums up its
// steps, wait waits for all, receive returns every step's output, stop
// stops every step, rm removes them all; ls lists the whole job and its
// steps, and --label openjd=N the steps.
func TestOpenJDWholeJob(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	c := s.Client()
	ctx := context.Background()
	res, err := c.SubmitOpenJD(ctx, &job.OpenJDJob{Template: twoStepTemplate})
	require.NoError(t, err)
	require.Len(t, res.Steps, 2)
	id := fmt.Sprint(res.Job)

	r := s.Berth("", "wait", id)
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	p, err := c.Job(ctx, res.Job)
	require.NoError(t, err)
	require.Equal(t, "Two", p.Name)
	require.Equal(t, job.Done, p.State)
	require.Equal(t, 4, p.TaskCount)
	require.Equal(t, 4, p.Tasks[job.Done])
	require.Equal(t, []int64{res.Steps[0].Job, res.Steps[1].Job}, p.Steps)
	require.NotNil(t, p.FinishedAt)

	r = s.Berth("", "show", id)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "its steps are jobs")
	require.Regexp(t, fmt.Sprintf(`(?m)^%d\s+A\s+Done\s+3\s+3\s+0`, res.Steps[0].Job), r.Stdout)

	r = s.Berth("", "ls", "--label", "openjd="+id, "-q")
	require.Equal(t, fmt.Sprintf("%d\n%d\n", res.Steps[0].Job, res.Steps[1].Job), r.Stdout)
	r = s.Berth("", "ls", "-q")
	require.Equal(t, fmt.Sprintf("%s\n%d\n%d\n", id, res.Steps[0].Job, res.Steps[1].Job), r.Stdout)

	got, err := c.Receive(ctx, []job.Ref{{Job: res.Job}}, false)
	require.NoError(t, err)
	require.Len(t, got, 4)
	for i, want := range []string{"a1", "a2", "a3", "b"} {
		ref := job.Ref{Job: res.Steps[0].Job, Index: i + 1, HasIndex: true}
		if want == "b" {
			ref = job.Ref{Job: res.Steps[1].Job}
		}
		require.Equal(t, ref.String(), got[i].Ref)
		require.Contains(t, got[i].Stdout, "Output:\n"+want+"\n")
	}

	// A task is named by its step's job.
	_, err = c.Task(ctx, job.Ref{Job: res.Job, Index: 1, HasIndex: true})
	require.ErrorContains(t, err, "its tasks are those of its steps' jobs")

	// Stop: every step; rm without force refuses while one runs.
	res2, err := c.SubmitOpenJD(ctx, &job.OpenJDJob{Template: twoStepTemplate, Parameters: map[string]string{"Sleep": "300"}})
	require.NoError(t, err)
	id2 := fmt.Sprint(res2.Job)
	require.Eventually(t, func() bool {
		j, err := c.Job(ctx, res2.Steps[1].Job)
		return err == nil && j.State == job.Running
	}, 30*time.Second, 50*time.Millisecond)
	r = s.Berth("", "rm", id2)
	require.NotEqual(t, 0, r.Code)
	require.Contains(t, r.Stderr, "has not ended")
	r = s.Berth("", "stop", id2)
	require.Equal(t, 0, r.Code, r.Stderr)
	r = s.Berth("", "wait", id2)
	require.NotEqual(t, 0, r.Code)
	p, err = c.Job(ctx, res2.Job)
	require.NoError(t, err)
	require.Equal(t, job.Failed, p.State)

	for _, rm := range []string{id, id2} {
		r = s.Berth("", "rm", rm)
		require.Equal(t, 0, r.Code, r.Stderr)
	}
	jobs, err := c.Jobs(ctx, client.ListParams{})
	require.NoError(t, err)
	require.Empty(t, jobs.Jobs, "the whole jobs and their steps are gone")
}
