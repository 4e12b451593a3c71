package session_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/openjd"
	"github.com/berth-run/berth/openjd/session"
)

// wrapTemplate has a wrapping job environment W (whose hooks print what
// they get and run the wrapped command), an inner environment I and a
// step whose task sets a variable.
const wrapTemplate = `
specificationVersion: jobtemplate-2023-09
extensions: [WRAP_ACTIONS, EXPR, FEATURE_BUNDLE_1]
name: J
jobEnvironments:
- name: W
  script:
    let: ["tag = 'wrap'"]
    actions:
      onEnter: {command: bash, args: ["-c", "echo W-own-enter"]}
      onWrapEnvEnter:
        command: bash
        args: ["-c", "echo \"{{tag}} enter {{WrappedEnv.Name}} T=<{{WrappedAction.Timeout}}>\"; exec \"$@\"", "wrap",
               "{{WrappedAction.Command}}", "{{WrappedAction.Args}}"]
      onWrapTaskRun:
        command: bash
        args: ["-c", "echo \"{{tag}} task {{WrappedStep.Name}} M=<{{WrappedAction.Cancelation.Mode}}> P=<{{WrappedAction.Cancelation.NotifyPeriodInSeconds}}> T=<{{WrappedAction.Timeout}}> ENV={{ join(WrappedAction.Environment, ',') }}\"; exec \"$@\"",
               "wrap", "{{WrappedAction.Command}}", "{{WrappedAction.Args}}"]
        timeout: "{{WrappedAction.Timeout}}"
      onWrapEnvExit:
        command: bash
        args: ["-c", "echo \"{{tag}} exit {{WrappedEnv.Name}}\"; exit 3"]
      onExit: {command: bash, args: ["-c", "echo W-own-exit"]}
- name: I
  variables: {STATIC: s}
  script:
    actions:
      onEnter: {command: bash, args: ["-c", "echo inner-enter-body; echo 'openjd_env: DYN=d'"], timeout: 50}
      onExit: {command: bash, args: ["-c", "echo inner-exit-body"]}
steps:
- name: S
  script:
    actions:
      onRun:
        command: bash
        args: ["-c", "echo \"task-body DYN=$DYN\"; echo 'openjd_env: LOOSE=l'"]
        cancelation: {mode: NOTIFY_THEN_TERMINATE}
`

func TestWrapHooksRunInPlace(t *testing.T) {
	t.Parallel()
	jt := parseJob(t, wrapTemplate)
	b := setup(t, session.Config{Env: []string{"PATH=" + os.Getenv("PATH"), "HOSTVAR=h"}})
	ctx := context.Background()
	for i := range jt.JobEnvironments {
		res, err := b.s.EnterEnvironment(ctx, &jt.JobEnvironments[i], jt.Extensions)
		require.NoError(t, err)
		require.True(t, res.OK(), res.Message)
	}
	for range 2 {
		res, err := b.s.RunTask(ctx, &jt.Steps[0], nil)
		require.NoError(t, err)
		require.True(t, res.OK(), res.Message)
	}
	res, err := b.s.ExitEnvironments(ctx, 0)
	require.NoError(t, err)
	// The failed onWrapEnvExit is I's exit failing; W still exits.
	require.Equal(t, session.Failed, res.State)
	require.Equal(t, 3, res.ExitCode)

	out := b.output()
	require.Contains(t, out, "W-own-enter")
	require.Contains(t, out, "wrap enter I T=<50>")
	require.Contains(t, out, "inner-enter-body")
	// The wrapped onEnter's openjd_env set DYN for later actions.
	require.Contains(t, out, "task-body DYN=d")
	require.Contains(t, out, "wrap task S M=<NOTIFY_THEN_TERMINATE> P=<120> T=<> ENV=STATIC=s,DYN=d\n")
	// The first task's openjd_env is forwarded to the second's hook.
	require.Contains(t, out, "ENV=STATIC=s,DYN=d,LOOSE=l")
	require.NotContains(t, out, "HOSTVAR=")
	require.Contains(t, out, "wrap exit I")
	require.NotContains(t, out, "inner-exit-body")
	require.Contains(t, out, "W-own-exit")
	require.Less(t, strings.Index(out, "wrap exit I"), strings.Index(out, "W-own-exit"))
	require.NotContains(t, out, "wrap enter W")
}

func TestWrapSecondWrapperRefused(t *testing.T) {
	t.Parallel()
	jt := parseJob(t, wrapTemplate)
	b := setup(t, session.Config{})
	ctx := context.Background()
	w := &jt.JobEnvironments[0]
	res, err := b.s.EnterEnvironment(ctx, w, jt.Extensions)
	require.NoError(t, err)
	require.True(t, res.OK(), res.Message)
	_, err = b.s.EnterEnvironment(ctx, w, jt.Extensions)
	require.ErrorContains(t, err, "one wrapping environment")
	require.Equal(t, 1, b.s.Environments())
}

func TestWrapHookBadModeFailsTheAction(t *testing.T) {
	t.Parallel()
	src := strings.Replace(wrapTemplate, `timeout: "{{WrappedAction.Timeout}}"`,
		`cancelation: {mode: "{{ 'NOTIFY' if WrappedAction.Timeout else 'NONE' }}"}`, 1)
	jt := parseJob(t, src)
	b := setup(t, session.Config{})
	ctx := context.Background()
	res, err := b.s.EnterEnvironment(ctx, &jt.JobEnvironments[0], []openjd.Extension{openjd.WrapActions})
	require.NoError(t, err)
	require.True(t, res.OK(), res.Message)
	res, err = b.s.RunTask(ctx, &jt.Steps[0], nil)
	require.NoError(t, err)
	require.Equal(t, session.Failed, res.State)
	require.Contains(t, res.Message, "onWrapTaskRun")
	require.NotContains(t, b.output(), "task-body")
}
