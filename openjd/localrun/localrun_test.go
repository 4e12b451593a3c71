package localrun_test

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/openjd/localrun"
)

const threeSteps = `
specificationVersion: jobtemplate-2023-09
name: Steps
jobEnvironments:
- name: JobEnv
  script:
    actions:
      onEnter: {command: bash, args: ["-c", "echo MARK enter-job"]}
      onExit: {command: bash, args: ["-c", "echo MARK exit-job"]}
steps:
- name: C
  dependencies: [{dependsOn: B}]
  script: {actions: {onRun: {command: bash, args: ["-c", "echo MARK run-C"]}}}
- name: A
  parameterSpace:
    taskParameterDefinitions: [{name: F, type: INT, range: "1-3"}]
  stepEnvironments:
  - name: StepEnv
    script:
      actions:
        onEnter: {command: bash, args: ["-c", "echo MARK enter-step"]}
        onExit: {command: bash, args: ["-c", "echo MARK exit-step"]}
  script: {actions: {onRun: {command: bash, args: ["-c", "echo MARK run-A-{{Task.Param.F}}"]}}}
- name: B
  dependencies: [{dependsOn: A}]
  script: {actions: {onRun: {command: bash, args: ["-c", "echo MARK run-B"]}}}
`

// run loads and runs a template and returns the MARK lines of its log.
func run(t *testing.T, ctx context.Context, tmpl string, opts localrun.Options) (*localrun.Result, []string) {
	t.Helper()
	dir := t.TempDir()
	job, err := localrun.Load(localrun.Input{Template: []byte(tmpl), TemplateDir: dir, WorkingDir: dir})
	require.NoError(t, err)
	var out bytes.Buffer
	opts.Job = job
	opts.Root = dir
	opts.Log = localrun.NewLogWriter(&out, localrun.TimestampRelative, time.Now()).Log
	res, err := localrun.Run(ctx, opts)
	require.NoError(t, err)
	var marks []string
	for _, m := range regexp.MustCompile(`MARK (\S+)`).FindAllStringSubmatch(out.String(), -1) {
		marks = append(marks, m[1])
	}
	return res, marks
}

func TestRunsStepsInDependencyOrder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	res, marks := run(t, ctx, threeSteps, localrun.Options{})
	require.True(t, res.Succeeded)
	require.Equal(t, 5, res.ChunksRun)
	require.Equal(t, []string{"enter-job", "enter-step", "run-A-1", "run-A-2", "run-A-3", "exit-step",
		"run-B", "run-C", "exit-job"}, marks)

	_, marks = run(t, ctx, threeSteps, localrun.Options{Step: "B", RunDependencies: true, MaximumTasks: 1})
	require.Equal(t, []string{"enter-job", "enter-step", "run-A-1", "run-A-2", "run-A-3", "exit-step", "run-B", "exit-job"}, marks)

	_, marks = run(t, ctx, threeSteps, localrun.Options{Step: "A", MaximumTasks: 2})
	require.Equal(t, []string{"enter-job", "enter-step", "run-A-1", "run-A-2", "exit-step", "exit-job"}, marks)

	_, marks = run(t, ctx, threeSteps, localrun.Options{Step: "A", Tasks: []map[string]string{{"F": "3"}, {"F": "1"}}})
	require.Equal(t, []string{"enter-job", "enter-step", "run-A-3", "run-A-1", "exit-step", "exit-job"}, marks)
}

func TestRejectsBadSelections(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	job, err := localrun.Load(localrun.Input{Template: []byte(threeSteps), TemplateDir: dir})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = localrun.Run(ctx, localrun.Options{Job: job, Step: "Nope"})
	require.ErrorContains(t, err, `no step named "Nope"`)
	_, err = localrun.Run(ctx, localrun.Options{Job: job, Step: "A", Tasks: []map[string]string{{"F": "9"}, {"G": "1"}}})
	require.ErrorContains(t, err, "task 0: parameter F: 9 is not in the parameter's range")
	require.ErrorContains(t, err, "task 1 defines unknown parameters: G")
	require.ErrorContains(t, err, "task 1 is missing values for parameters: F")
	_, err = localrun.Run(ctx, localrun.Options{Job: job, Tasks: []map[string]string{{"F": "1"}}})
	require.ErrorContains(t, err, "needs --step")
}

func TestFailureStopsTasksAndExitsEnvironments(t *testing.T) {
	t.Parallel()
	tmpl := strings.Replace(threeSteps, `echo MARK run-A-{{Task.Param.F}}`, `echo MARK run-A-{{Task.Param.F}}; test {{Task.Param.F}} != 2`, 1)
	res, marks := run(t, context.Background(), tmpl, localrun.Options{})
	require.False(t, res.Succeeded)
	require.Equal(t, "run task of step 'A' (F=2)", res.FailedAction)
	require.Equal(t, 1, res.Failure.ExitCode)
	require.Equal(t, []string{"enter-job", "enter-step", "run-A-1", "run-A-2", "exit-step", "exit-job"}, marks)
	require.Contains(t, res.Summary(), "Session ended with errors")
}

func TestCancelExitsEnvironments(t *testing.T) {
	t.Parallel()
	tmpl := strings.Replace(threeSteps, `echo MARK run-A-{{Task.Param.F}}`, `echo MARK run-A-{{Task.Param.F}}; sleep 30`, 1)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	start := time.Now()
	res, marks := run(t, ctx, tmpl, localrun.Options{})
	require.Less(t, time.Since(start), 10*time.Second)
	require.True(t, res.Canceled)
	require.False(t, res.Succeeded)
	require.Equal(t, []string{"enter-job", "enter-step", "run-A-1", "exit-step", "exit-job"}, marks)
}

func TestAdaptiveChunking(t *testing.T) {
	t.Parallel()
	tmpl := `
specificationVersion: jobtemplate-2023-09
extensions: [TASK_CHUNKING]
name: Adaptive
steps:
- name: S
  parameterSpace:
    taskParameterDefinitions:
    - name: F
      type: CHUNK[INT]
      range: 1-200
      chunks: {defaultTaskCount: 1, targetRuntimeSeconds: 5, rangeConstraint: CONTIGUOUS}
    - {name: L, type: STRING, range: [a, b]}
  script: {actions: {onRun: {command: bash, args: ["-c", "echo MARK {{Task.Param.L}}:{{Task.Param.F}}"]}}}
`
	res, marks := run(t, context.Background(), tmpl, localrun.Options{})
	require.True(t, res.Succeeded)
	// Tasks take milliseconds against a 5 s target: the chunks grow, so
	// far fewer than 400 run; each letter covers 1-200 exactly once.
	require.Less(t, res.ChunksRun, 60)
	covered := map[string]int{}
	for _, m := range marks {
		l, f, _ := strings.Cut(m, ":")
		lo, hi, _ := strings.Cut(f, "-")
		require.NotEmpty(t, hi, m)
		var a, b int
		_, _ = fmtSscan(lo, &a), fmtSscan(hi, &b)
		covered[l] += b - a + 1
	}
	require.Equal(t, map[string]int{"a": 200, "b": 200}, covered)
}

func fmtSscan(s string, v *int) error {
	n, err := strconv.Atoi(s)
	*v = n
	return err
}
