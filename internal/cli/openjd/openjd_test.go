package openjd

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
)

const jobYAML = `specificationVersion: jobtemplate-2023-09
name: Hello {{Param.Who}}
parameterDefinitions:
- {name: Who, type: STRING, default: world}
- {name: Count, type: INT, default: 2, minValue: 1}
steps:
- name: Greet
  parameterSpace:
    taskParameterDefinitions:
    - {name: N, type: INT, range: "1-{{Param.Count}}"}
    - {name: M, type: INT, range: "1-{{Param.Count}}"}
    combination: "(N, M)"
  script:
    actions:
      onRun:
        command: bash
        args: ["-c", "echo 'hello {{Param.Who}} #{{Task.Param.N}}'; test {{Task.Param.N}} != 13"]
`

func writeTemplate(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "job.yaml")
	require.NoError(t, os.WriteFile(p, []byte(src), 0o600))
	return p
}

func TestRunFlags(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "http://unused:1", false)
	var got *RunOptions
	capture := func(_ context.Context, o *RunOptions) error { got = o; return nil }
	_, err := clitest.Exec(NewCmdRun(env.F, capture), "job.yaml", "--step", "S", "-p", "A=1", "-tp", "F=1",
		"--task-param", "G=2", "--env", "e1.yaml", "--environment", "e2.yaml", "--timestamp-format", "utc", "--output", "json")
	require.NoError(t, err)
	require.Equal(t, "job.yaml", got.Template)
	require.Equal(t, []string{"F=1", "G=2"}, got.TaskParams)
	require.Equal(t, []string{"e1.yaml", "e2.yaml"}, got.Environments)
	require.Equal(t, outputJSON, got.Output)

	code, err := clitest.Exec(NewCmdRun(env.F, capture), "job.yaml", "-tp", "F=1", "--maximum-tasks", "2")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, "exclude each other")
	code, _ = clitest.Exec(NewCmdRun(env.F, capture), "job.yaml", "--timestamp-format", "martian")
	require.Equal(t, cmdutil.ExitUsage, code)
	code, _ = clitest.Exec(NewCmdRun(env.F, capture))
	require.Equal(t, cmdutil.ExitUsage, code)
	code, _ = clitest.Exec(NewCmdRun(env.F, capture), "job.yaml", "--no-such-flag")
	require.Equal(t, cmdutil.ExitUsage, code)
}

func TestParseJobParams(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "p.yaml")
	require.NoError(t, os.WriteFile(f, []byte("A: 1\nB: two\n"), 0o600))
	got, err := parseJobParams([]string{"file://" + f, `{"B": "three", "C": 2.50}`, "D=x=y"})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"A": "1", "B": "three", "C": "2.50", "D": "x=y"}, got)
	_, err = parseJobParams([]string{"novalue"})
	require.Error(t, err)

	// LIST parameters: a list in a file or a JSON object, or JSON text
	// after NAME=, all reach the job as JSON text.
	require.NoError(t, os.WriteFile(f, []byte("L: [a, 1.50, true, 0x10]\nP:\n- /x y\n"), 0o600))
	got, err = parseJobParams([]string{"file://" + f, `{"M": [[1, 2], [3]], "E": []}`, `N=["x", "y"]`})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"L": `["a", 1.50, true, 16]`, "P": `["/x y"]`, "M": "[[1, 2], [3]]",
		"E": "[]", "N": `["x", "y"]`}, got)
	_, err = parseJobParams([]string{`{"O": {"a": 1}}`})
	require.ErrorContains(t, err, "parameter O")
}

func TestCheckAndSummary(t *testing.T) {
	t.Parallel()
	p := writeTemplate(t, jobYAML)
	env := clitest.NewEnv(t, "http://unused:1", false)
	code, err := clitest.Exec(NewCmdCheck(env.F, nil), p)
	require.NoError(t, err)
	require.Zero(t, code)
	require.Contains(t, env.Out.String(), "passes validation checks")

	bad := writeTemplate(t, "specificationVersion: jobtemplate-2023-09\nname: X\nsteps: []\n")
	code, err = clitest.Exec(NewCmdCheck(env.F, nil), bad)
	require.Equal(t, cmdutil.ExitFailure, code)
	require.ErrorContains(t, err, "steps: must have at least 1 element")

	env = clitest.NewEnv(t, "http://unused:1", false)
	_, err = clitest.Exec(NewCmdSummary(env.F, nil), p, "-p", "Count=1000", "--output", "json")
	require.NoError(t, err)
	var s jobSummary
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &s))
	require.Equal(t, "Hello world", s.Name)
	require.Equal(t, int64(1000), s.TotalTasks)

	env = clitest.NewEnv(t, "http://unused:1", false)
	code, err = clitest.Exec(NewCmdSummary(env.F, nil), p, "-p", "Count=0")
	require.Equal(t, cmdutil.ExitFailure, code)
	require.ErrorContains(t, err, "parameters.Count: 0 is less than minValue 1")
}

func TestRun(t *testing.T) {
	t.Parallel()
	p := writeTemplate(t, jobYAML)
	env := clitest.NewEnv(t, "http://unused:1", false)
	code, err := clitest.Exec(NewCmdRun(env.F, nil), p, "-p", "Who=you")
	require.NoError(t, err)
	require.Zero(t, code)
	out := env.Out.String()
	require.Contains(t, out, "Running job 'Hello you'")
	require.Contains(t, out, "hello you #2")
	require.Contains(t, out, "--- Results of local session ---\n\nSession ended successfully\n\nJob: Hello you\nStep: Greet\n")
	require.Contains(t, out, "Chunks run: 2\n")

	env = clitest.NewEnv(t, "http://unused:1", false)
	code, _ = clitest.Exec(NewCmdRun(env.F, nil), p, "-p", "Count=20", "--tasks", `[{"N": 12, "M": 1}, {"N": 13, "M": 1}, {"N": 14, "M": 1}]`, "--output", "json")
	require.Equal(t, cmdutil.ExitFailure, code)
	var res runResult
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &res))
	require.Equal(t, "error", res.Status)
	require.Equal(t, 1, res.ChunksRun)
	require.Equal(t, "run task of step 'Greet' (N=13, M=1)", res.FailedWith.Action)
	require.NotEmpty(t, res.Logs)
}

func TestRunInterrupted(t *testing.T) {
	t.Parallel()
	p := writeTemplate(t, `specificationVersion: jobtemplate-2023-09
name: Slow
jobEnvironments:
- name: Env
  script:
    actions:
      onEnter: {command: "true"}
      onExit: {command: bash, args: ["-c", "echo env exited"]}
steps:
- name: S
  script: {actions: {onRun: {command: bash, args: ["-c", "echo TASK-IS-RUNNING; sleep 60"]}}}
`)
	env := clitest.NewEnv(t, "http://unused:1", false)
	lockedOut(env)
	sigs := make(chan os.Signal, 1)
	opts := &RunOptions{IO: env.F.IO, Now: env.F.Now, Template: p, TimestampFormat: "relative", Output: outputHuman,
		Signals: func() (<-chan os.Signal, func()) { return sigs, func() {} }}
	go func() {
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if strings.Contains(syncString(env), "TASK-IS-RUNNING") {
				break
			}
		}
		sigs <- os.Interrupt
	}()
	err := runRun(context.Background(), opts)
	require.Equal(t, cmdutil.ExitInterrupted, cmdutil.ExitCode(err))
	out := syncString(env)
	require.Contains(t, out, "env exited")
	require.Contains(t, out, "Session canceled while running action: 'run task of step 'S''")
}

// outMu guards the output buffers of tests that read them while a run
// writes them.
var outMu sync.Mutex

type lockedWriter struct {
	w interface{ Write([]byte) (int, error) }
}

func (l lockedWriter) Write(p []byte) (int, error) {
	outMu.Lock()
	defer outMu.Unlock()
	return l.w.Write(p)
}

func lockedOut(env *clitest.Env) {
	env.F.IO.Out = lockedWriter{env.Out}
	env.F.IO.ErrOut = lockedWriter{env.ErrOut}
}

func syncString(env *clitest.Env) string {
	outMu.Lock()
	defer outMu.Unlock()
	return env.Out.String()
}
