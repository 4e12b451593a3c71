package session_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/openjd"
	"github.com/berth-run/berth/openjd/session"
)

// bundle is a session whose log is kept for assertions.
type bundle struct {
	s   *session.Session
	mu  sync.Mutex
	log []string
}

func (b *bundle) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.log, "\n")
}

func setup(t *testing.T, cfg session.Config) *bundle {
	t.Helper()
	b := &bundle{}
	cfg.Root = t.TempDir()
	cfg.Log = func(l session.Line) {
		b.mu.Lock()
		b.log = append(b.log, l.Text)
		b.mu.Unlock()
	}
	if cfg.OutputGrace == 0 {
		cfg.OutputGrace = 200 * time.Millisecond
	}
	s, err := session.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	b.s = s
	return b
}

// parseJob parses a job template for its environments and steps.
func parseJob(t *testing.T, src string) *openjd.JobTemplate {
	t.Helper()
	jt, err := openjd.ParseJobTemplate([]byte(src), openjd.Options{})
	require.NoError(t, err)
	return jt
}

func step(t *testing.T, script string) *openjd.Step {
	t.Helper()
	jt := parseJob(t, "specificationVersion: jobtemplate-2023-09\nname: J\nsteps:\n- name: S\n"+script)
	return &jt.Steps[0]
}

func bashStep(t *testing.T, cmd string) *openjd.Step {
	t.Helper()
	return step(t, "  script:\n    actions:\n      onRun:\n        command: bash\n        args: [\"-c\", "+strconv.Quote(cmd)+"]\n")
}

func TestEnvironmentsVariablesAndProtocol(t *testing.T) {
	t.Parallel()
	jt := parseJob(t, `
specificationVersion: jobtemplate-2023-09
extensions: [REDACTED_ENV_VARS]
name: J
jobEnvironments:
- name: Outer
  variables: {A: "from-outer", B: "b"}
  script:
    actions:
      onEnter:
        command: bash
        args: ["-c", "echo \"outer sees A=$A\"; echo 'openjd_env: C=c1'; echo 'openjd_env: \"D=multi\\nline\"'; echo 'openjd_unset_env: B'"]
      onExit: {command: bash, args: ["-c", "echo \"outer exit C=$C\""]}
- name: Inner
  script:
    actions:
      onEnter:
        command: bash
        args: ["-c", "echo 'openjd_redacted_env: SECRET=hunter2'; echo 'openjd_env: C=c2'"]
      onExit: {command: bash, args: ["-c", "echo \"inner exit C=$C\""]}
steps:
- name: S
  script: {actions: {onRun: {command: bash, args: ["-c", "echo \"task A=$A B=${B-unset} C=$C D=$D SECRET=$SECRET hunter2\""]}}}
`)
	b := setup(t, session.Config{Env: []string{"PATH=" + os.Getenv("PATH"), "B=from-host"}})
	ctx := context.Background()
	for i := range jt.JobEnvironments {
		res, err := b.s.EnterEnvironment(ctx, &jt.JobEnvironments[i], jt.Extensions)
		require.NoError(t, err)
		require.True(t, res.OK(), res.Message)
	}
	res, err := b.s.RunTask(ctx, &jt.Steps[0], nil)
	require.NoError(t, err)
	require.True(t, res.OK(), res.Message)
	res, err = b.s.ExitEnvironments(ctx, 0)
	require.NoError(t, err)
	require.True(t, res.OK())
	require.Zero(t, b.s.Environments())

	out := b.output()
	require.Contains(t, out, "outer sees A=from-outer")
	require.Contains(t, out, "task A=from-outer B=unset C=c2 D=multi\nline SECRET=******** ********")
	require.Contains(t, out, "openjd_redacted_env: SECRET=********")
	require.NotContains(t, out, "hunter2")
	require.Contains(t, out, "inner exit C=c2")
	require.Contains(t, out, "outer exit C=c1")
	require.Less(t, strings.Index(out, "inner exit"), strings.Index(out, "outer exit"))
}

func TestRedactedEnvWithoutExtension(t *testing.T) {
	t.Parallel()
	jt := parseJob(t, `
specificationVersion: jobtemplate-2023-09
name: J
jobEnvironments:
- name: E
  script: {actions: {onEnter: {command: bash, args: ["-c", "echo 'openjd_redacted_env: X=abc123'"]}}}
steps:
- name: S
  script: {actions: {onRun: {command: bash, args: ["-c", "echo \"X=${X-unset} abc123\""]}}}
`)
	b := setup(t, session.Config{})
	ctx := context.Background()
	_, err := b.s.EnterEnvironment(ctx, &jt.JobEnvironments[0], jt.Extensions)
	require.NoError(t, err)
	res, err := b.s.RunTask(ctx, &jt.Steps[0], nil)
	require.NoError(t, err)
	require.True(t, res.OK())
	require.Contains(t, b.output(), "X=unset ********")
	require.NotContains(t, b.output(), "abc123")
}

func TestFailedEnterIsExitedAndEndsTheSession(t *testing.T) {
	t.Parallel()
	jt := parseJob(t, `
specificationVersion: jobtemplate-2023-09
name: J
jobEnvironments:
- name: Bad
  script:
    actions:
      onEnter: {command: bash, args: ["-c", "echo 'openjd_fail: no licence'; exit 4"]}
      onExit: {command: bash, args: ["-c", "echo cleaned up"]}
steps:
- name: S
  script: {actions: {onRun: {command: "true"}}}
`)
	b := setup(t, session.Config{})
	ctx := context.Background()
	res, err := b.s.EnterEnvironment(ctx, &jt.JobEnvironments[0], nil)
	require.NoError(t, err)
	require.Equal(t, session.Failed, res.State)
	require.Equal(t, 4, res.ExitCode)
	require.Equal(t, "no licence", res.Message)
	require.True(t, b.s.Ended())

	_, err = b.s.RunTask(ctx, &jt.Steps[0], nil)
	require.ErrorIs(t, err, session.ErrEnded)
	require.Equal(t, 1, b.s.Environments())
	res, err = b.s.ExitEnvironments(ctx, 0)
	require.NoError(t, err)
	require.True(t, res.OK())
	require.Contains(t, b.output(), "cleaned up")
}

func TestEmbeddedFiles(t *testing.T) {
	t.Parallel()
	st := step(t, `  parameterSpace:
    taskParameterDefinitions: [{name: N, type: INT, range: "7"}]
  script:
    embeddedFiles:
    - {name: data, type: TEXT, filename: data.txt, data: "n={{Task.Param.N}}\n"}
    - {name: run, type: TEXT, runnable: true, data: "#!/bin/sh\ncat {{Task.File.data}}\nstat -c '%a' {{Task.File.data}} {{Task.File.run}}\n"}
    actions:
      onRun: {command: "{{Task.File.run}}"}
`)
	b := setup(t, session.Config{})
	res, err := b.s.RunTask(context.Background(), st, []session.TaskParam{{Name: "N", Type: openjd.TaskInt, Value: "7"}})
	require.NoError(t, err)
	require.True(t, res.OK(), b.output())
	out := b.output()
	require.Contains(t, out, "n=7")
	require.Contains(t, out, "\n400\n500")
	require.FileExists(t, filepath.Join(b.s.WorkingDirectory(), "embedded_files", "data.txt"))
}

func TestEndOfLine(t *testing.T) {
	t.Parallel()
	jt := parseJob(t, `
specificationVersion: jobtemplate-2023-09
extensions: [FEATURE_BUNDLE_1]
name: J
steps:
- name: S
  script:
    embeddedFiles:
    - {name: f, type: TEXT, filename: crlf.txt, data: "a\nb\n", endOfLine: CRLF}
    actions:
      onRun: {command: "od", args: ["-c", "{{Task.File.f}}"]}
`)
	b := setup(t, session.Config{})
	res, err := b.s.RunTask(context.Background(), &jt.Steps[0], nil)
	require.NoError(t, err)
	require.True(t, res.OK(), b.output())
	require.Contains(t, b.output(), `a  \r  \n   b  \r  \n`)
}

func TestSimpleAction(t *testing.T) {
	t.Parallel()
	jt := parseJob(t, `
specificationVersion: jobtemplate-2023-09
extensions: [FEATURE_BUNDLE_1]
name: J
steps:
- name: S
  bash:
    args: [first]
    script: |
      echo "script=${0##*.} arg=$1"
`)
	b := setup(t, session.Config{})
	res, err := b.s.RunTask(context.Background(), &jt.Steps[0], nil)
	require.NoError(t, err)
	require.True(t, res.OK(), b.output())
	require.Contains(t, b.output(), "script=sh arg=first")
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	st := step(t, "  script:\n    actions:\n      onRun: {command: sleep, args: [\"30\"], timeout: 1}\n")
	b := setup(t, session.Config{})
	start := time.Now()
	res, err := b.s.RunTask(context.Background(), st, nil)
	require.NoError(t, err)
	require.Equal(t, session.TimedOut, res.State)
	require.Equal(t, "SIGKILL", res.Signal)
	require.Less(t, time.Since(start), 10*time.Second)
	require.True(t, b.s.Ended())
}

// alive reports whether a process exists.
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func waitForFile(t *testing.T, path string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b))
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
	return ""
}

func TestCancelTerminateKillsTheProcessGroup(t *testing.T) {
	t.Parallel()
	b := setup(t, session.Config{})
	pidFile := filepath.Join(b.s.WorkingDirectory(), "child.pid")
	st := bashStep(t, "sleep 60 & echo $! > "+pidFile+"; wait")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan session.Result)
	go func() {
		res, _ := b.s.RunTask(ctx, st, nil)
		done <- res
	}()
	child, _ := strconv.Atoi(waitForFile(t, pidFile))
	require.True(t, alive(child))
	cancel()
	res := <-done
	require.Equal(t, session.Canceled, res.State)
	require.Eventually(t, func() bool { return !alive(child) }, 5*time.Second, 10*time.Millisecond)
}

func TestCancelNotifyThenTerminate(t *testing.T) {
	t.Parallel()
	b := setup(t, session.Config{})
	ready := filepath.Join(b.s.WorkingDirectory(), "ready")
	// The command notes the SIGTERM, then ignores it: the notify period
	// ends with SIGKILL.
	st := step(t, `  script:
    actions:
      onRun:
        command: bash
        args: ["-c", "trap 'echo got TERM; cat cancel_info.json; echo' TERM; echo x > `+ready+`; while true; do sleep 0.05; done"]
        cancelation: {mode: NOTIFY_THEN_TERMINATE, notifyPeriodInSeconds: 1}
`)
	done := make(chan session.Result)
	go func() {
		res, _ := b.s.RunTask(context.Background(), st, nil)
		done <- res
	}()
	waitForFile(t, ready)
	start := time.Now()
	b.s.Cancel()
	res := <-done
	require.Equal(t, session.Canceled, res.State)
	require.Equal(t, "SIGKILL", res.Signal)
	require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond)
	out := b.output()
	require.Contains(t, out, "got TERM")
	require.Contains(t, out, `{"NotifyEnd":"`)
}

func TestPathMapping(t *testing.T) {
	t.Parallel()
	jt := parseJob(t, `
specificationVersion: jobtemplate-2023-09
name: J
parameterDefinitions: [{name: In, type: PATH}]
steps:
- name: S
  parameterSpace:
    taskParameterDefinitions: [{name: P, type: PATH, range: ['Z:\proj\x\y.txt']}]
  script:
    actions:
      onRun:
        command: bash
        args: ["-c", "echo 'param={{Param.In}} raw={{RawParam.In}} task={{Task.Param.P}} has={{Session.HasPathMappingRules}}'; cat {{Session.PathMappingRulesFile}}"]
`)
	b := setup(t, session.Config{
		Parameters: []openjd.ParameterValue{{Name: "In", Type: openjd.ParamPath, Value: "/mnt/shared/shot/a.exr"}},
		PathMappingRules: []session.PathMappingRule{
			{SourcePathFormat: "POSIX", SourcePath: "/mnt", DestinationPath: "/wrong"},
			{SourcePathFormat: "POSIX", SourcePath: "/mnt/shared", DestinationPath: "/local"},
			{SourcePathFormat: "WINDOWS", SourcePath: `z:\proj`, DestinationPath: "/proj"},
		},
	})
	res, err := b.s.RunTask(context.Background(), &jt.Steps[0], []session.TaskParam{{Name: "P", Type: openjd.TaskPath, Value: `Z:\proj\x\y.txt`}})
	require.NoError(t, err)
	require.True(t, res.OK(), b.output())
	out := b.output()
	require.Contains(t, out, "param=/local/shot/a.exr raw=/mnt/shared/shot/a.exr task=/proj/x/y.txt has=true")
	require.Contains(t, out, `"version": "pathmapping-1.0"`)
}

func TestOutputHeldOpenByABackgroundProcess(t *testing.T) {
	t.Parallel()
	b := setup(t, session.Config{})
	st := bashStep(t, "echo before; (sleep 20; echo late) & echo after")
	start := time.Now()
	res, err := b.s.RunTask(context.Background(), st, nil)
	require.NoError(t, err)
	require.True(t, res.OK())
	require.Less(t, time.Since(start), 5*time.Second)
	require.Contains(t, b.output(), "after")
}

func TestCommandNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t, session.Config{})
	st := step(t, "  script:\n    actions:\n      onRun: {command: no-such-command-berth}\n")
	res, err := b.s.RunTask(context.Background(), st, nil)
	require.NoError(t, err)
	require.Equal(t, session.Failed, res.State)
	require.Contains(t, res.Message, "not found")
}

func TestMalformedEnvMessageFailsTheAction(t *testing.T) {
	t.Parallel()
	jt := parseJob(t, `
specificationVersion: jobtemplate-2023-09
name: J
jobEnvironments:
- name: E
  script: {actions: {onEnter: {command: bash, args: ["-c", "echo 'openjd_env: 1BAD=x'; sleep 30"]}}}
steps:
- name: S
  script: {actions: {onRun: {command: "true"}}}
`)
	b := setup(t, session.Config{})
	res, err := b.s.EnterEnvironment(context.Background(), &jt.JobEnvironments[0], nil)
	require.NoError(t, err)
	require.Equal(t, session.Failed, res.State)
	require.Contains(t, res.Message, "openjd_env")
}

func TestBackgroundProcessOutlivesItsAction(t *testing.T) {
	t.Parallel()
	b := setup(t, session.Config{OutputGrace: 50 * time.Millisecond})
	done := filepath.Join(b.s.WorkingDirectory(), "done")
	// The background process writes to the output after the action ended
	// and its grace period passed: it must not die of a closed pipe.
	st := bashStep(t, "(sleep 0.5; echo late; echo ok > "+done+") &")
	res, err := b.s.RunTask(context.Background(), st, nil)
	require.NoError(t, err)
	require.True(t, res.OK())
	require.Equal(t, "ok", waitForFile(t, done))
}

func TestURIPathMapping(t *testing.T) {
	t.Parallel()
	jt := parseJob(t, `
specificationVersion: jobtemplate-2023-09
extensions: [EXPR]
name: J
parameterDefinitions: [{name: In, type: PATH}]
steps:
- name: S
  script:
    actions:
      onRun:
        command: bash
        args: ["-c", "echo 'param={{Param.In}} raw={{RawParam.In}}'; for p in {{ repr_sh([apply_path_mapping(x) for x in ['S3://BUCKET/prefix', 's3://bucket/PREFIX/f', 's3://bucket/prefixed/f', 's3://other/prefix/f', '/mnt/x']]) }}; do echo \"mapped $p\"; done"]
`)
	b := setup(t, session.Config{
		Parameters: []openjd.ParameterValue{{Name: "In", Type: openjd.ParamPath, Value: "s3://bucket/prefix/shot/a.exr"}},
		PathMappingRules: []session.PathMappingRule{
			{SourcePathFormat: "uri", SourcePath: "s3://bucket/prefix/", DestinationPath: "/local"},
			{SourcePathFormat: "posix", SourcePath: "/mnt", DestinationPath: "/m"},
		},
	})
	res, err := b.s.RunTask(context.Background(), &jt.Steps[0], nil)
	require.NoError(t, err)
	require.True(t, res.OK(), b.output())
	out := b.output()
	require.Contains(t, out, "param=/local/shot/a.exr raw=s3://bucket/prefix/shot/a.exr")
	// Scheme and authority match in any ASCII case, the path exactly and
	// by whole components.
	require.Contains(t, out, "mapped /local\n")
	require.Contains(t, out, "mapped s3://bucket/PREFIX/f")
	require.Contains(t, out, "mapped s3://bucket/prefixed/f")
	require.Contains(t, out, "mapped s3://other/prefix/f")
	require.Contains(t, out, "mapped /m/x")

	_, err = session.New(session.Config{Root: t.TempDir(), PathMappingRules: []session.PathMappingRule{
		{SourcePathFormat: "URI", SourcePath: "/not/a/uri", DestinationPath: "/x"}}})
	require.ErrorContains(t, err, "is not a URI")
}

// TestSessionDirVariable checks that every action sees the session's
// working directory as OPENJD_SESSION_WORKING_DIR.
func TestSessionDirVariable(t *testing.T) {
	t.Parallel()
	b := setup(t, session.Config{Env: []string{"PATH=" + os.Getenv("PATH")}})
	res, err := b.s.RunTask(context.Background(), bashStep(t, `echo "dir=$OPENJD_SESSION_WORKING_DIR"; echo "wd={{Session.WorkingDirectory}}"`), nil)
	require.NoError(t, err)
	require.True(t, res.OK(), b.output())
	out := b.output()
	i := strings.Index(out, "wd=")
	require.Positive(t, i)
	wd := strings.SplitN(out[i+3:], "\n", 2)[0]
	require.NotEmpty(t, wd)
	require.Contains(t, out, "dir="+wd+"\n")
}
