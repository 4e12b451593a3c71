package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// TestSubmitSteps submits a two-step template: the second step waits for
// the first, each task runs in a session of its own on the worker, and a
// failing step fails the steps that depend on it with DEPENDENCY.
func TestSubmitSteps(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t, "--slots", "4")
	dir := testenv.ShortTempDir(t)
	tmpl := filepath.Join(dir, "job.yaml")
	require.NoError(t, os.WriteFile(tmpl, []byte(`specificationVersion: jobtemplate-2023-09
name: Pipeline
parameterDefinitions:
- {name: Out, type: PATH}
- {name: Fail, type: INT, default: 0}
jobEnvironments:
- name: Setup
  variables: {MARK: from-env}
steps:
- name: Make
  parameterSpace:
    taskParameterDefinitions:
    - {name: N, type: INT, range: "1-3"}
  script:
    actions:
      onRun:
        command: sh
        args: ["-c", "echo made {{Task.Param.N}} $MARK > {{Param.Out}}/part{{Task.Param.N}}; echo task {{Task.Param.N}}"]
- name: Join
  dependencies: [{dependsOn: Make}]
  script:
    actions:
      onRun:
        command: sh
        args: ["-c", "test {{Param.Fail}} = 0 && cat {{Param.Out}}/part* > {{Param.Out}}/all"]
- name: After
  dependencies: [{dependsOn: Join}]
  script:
    actions:
      onRun: {command: sh, args: ["-c", "echo after"]}
`), 0o600))

	r := s.Berth("", "submit", tmpl, "-p", "Out="+dir, "--wait", "--json")
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr+s.Log())
	var res job.OpenJDSubmitted
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &res))
	subs := res.Steps
	require.Len(t, subs, 3)
	require.Equal(t, "Make", subs[0].Step)
	require.EqualValues(t, 3, subs[0].Tasks)
	b, err := os.ReadFile(filepath.Join(dir, "all"))
	require.NoError(t, err)
	require.Equal(t, "made 1 from-env\nmade 2 from-env\nmade 3 from-env\n", string(b))
	require.Contains(t, s.Berth("", "logs", fmt.Sprintf("%d.2", subs[0].Job)).Stdout, "task 2")
	j, err := s.Client().Job(context.Background(), subs[1].Job)
	require.NoError(t, err)
	require.Equal(t, []int64{subs[0].Job}, j.After)
	require.Equal(t, "Pipeline/Join", j.Name)

	// A failing step: its dependents fail with DEPENDENCY, and --wait says so.
	r = s.Berth("", "submit", tmpl, "-p", "Out="+dir, "-p", "Fail=1", "--wait", "--json")
	require.Equal(t, 1, r.Code, r.Stdout+r.Stderr)
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &res))
	subs = res.Steps
	require.Equal(t, job.ReasonDependency, taskOf(t, s, fmt.Sprint(subs[2].Job)).SubState.Kind)

	// A bad parameter is refused before anything is submitted.
	r = s.Berth("", "submit", tmpl, "-p", "Out="+dir, "-p", "Fail=x")
	require.NotEqual(t, 0, r.Code)
	require.Contains(t, r.Stderr, "Fail")
}

var updateSubmitPass = flag.Bool("update-submit", false, "rewrite testdata/submit-pass.txt from this run")

// TestSubmitConformance submits the execution fixtures of the OpenJD
// conformance suite (the valid ones that expect success, of every folder:
// base and each extension's) to a server and checks each one's expected
// output in the logs of its tasks, which workers run in sessions. The
// fixtures that pass are kept in testdata/submit-pass.txt; the test fails
// if one of them stops passing.
func TestSubmitConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	t.Parallel()
	root := filepath.Join(conformanceDir(), "2023-09")
	files, err := filepath.Glob(filepath.Join(root, "*", "jobs", "*.test.yaml"))
	if err != nil || len(files) == 0 {
		t.Skipf("conformance fixtures not found in %s (set OPENJD_CONFORMANCE_DIR)", root)
	}
	s := testenv.StartServer(t, "--slots", "4")
	c := s.Client()

	type outcome struct {
		name string
		ok   bool
		why  string
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		wg       sync.WaitGroup
		sem      = make(chan struct{}, 4)
	)
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".test.yaml")
		if folder := filepath.Base(filepath.Dir(filepath.Dir(f))); folder != "base" {
			name = folder + "/" + name
		}
		if strings.HasSuffix(name, ".invalid") {
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ok, why := submitFixture(t, s, c, f)
			if ok || why != "" {
				mu.Lock()
				outcomes = append(outcomes, outcome{name, ok, why})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sort.Slice(outcomes, func(i, j int) bool { return outcomes[i].name < outcomes[j].name })
	var passed []string
	for _, o := range outcomes {
		if o.ok {
			passed = append(passed, o.name)
		} else {
			t.Logf("not passing: %s: %s", o.name, o.why)
		}
	}
	t.Logf("berth submit: %d of %d execution fixtures pass", len(passed), len(outcomes))
	const passFile = "testdata/submit-pass.txt"
	if *updateSubmitPass {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(passFile, []byte(strings.Join(passed, "\n")+"\n"), 0o644))
		return
	}
	want, err := os.Open(passFile)
	require.NoError(t, err)
	defer want.Close()
	sc := bufio.NewScanner(want)
	for sc.Scan() {
		if n := strings.TrimSpace(sc.Text()); n != "" {
			require.True(t, slices.Contains(passed, n), "fixture %s passed before and fails now", n)
		}
	}
}

// submitFixture submits one fixture. It returns ok, or why it failed; ok
// false with no reason skips the fixture (not for this platform or not
// runnable through submit: path mapping, an expected failure).
func submitFixture(t *testing.T, s *testenv.Server, c *client.Client, path string) (bool, string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return false, err.Error()
	}
	var fx struct {
		Template     yaml.Node            `yaml:"template"`
		Environments []yaml.Node          `yaml:"environments"`
		Parameters   map[string]yaml.Node `yaml:"parameters"`
		PathMapping  []yaml.Node          `yaml:"pathMapping"`
		RunOn        []string             `yaml:"runOn"`
		Expected     map[string]yaml.Node `yaml:"expected"`
	}
	if err := yaml.Unmarshal(data, &fx); err != nil {
		return false, err.Error()
	}
	if len(fx.RunOn) > 0 && !slices.Contains(fx.RunOn, "posix") && !slices.Contains(fx.RunOn, "linux") {
		return false, ""
	}
	if _, fails := fx.Expected["taskFailure"]; fails {
		return false, ""
	}
	dir := testenv.ShortTempDir(t)
	tmpl, _ := yaml.Marshal(&fx.Template)
	// One session per step, as the fixtures expect: what a task sets with
	// openjd_env is seen by the next task of the session.
	args := []string{"submit", filepath.Join(dir, "t.yaml"), "--wait", "--json", "--max-parallel", "1"}
	if err := os.WriteFile(args[1], tmpl, 0o600); err != nil {
		return false, err.Error()
	}
	for i := range fx.Environments {
		b, _ := yaml.Marshal(&fx.Environments[i])
		p := filepath.Join(dir, fmt.Sprintf("env%d.yaml", i))
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return false, err.Error()
		}
		args = append(args, "--environment", p)
	}
	if len(fx.Parameters) > 0 {
		values := map[string]string{}
		for k, v := range fx.Parameters {
			values[k] = v.Value
			if v.Kind != yaml.ScalarNode {
				var list any
				_ = v.Decode(&list)
				b, _ := json.Marshal(list)
				values[k] = string(b)
			}
		}
		b, _ := json.Marshal(values)
		args = append(args, "-p", string(b))
	}
	if len(fx.PathMapping) > 0 {
		var rules []any
		for i := range fx.PathMapping {
			var r any
			_ = fx.PathMapping[i].Decode(&r)
			rules = append(rules, r)
		}
		b, _ := json.Marshal(map[string]any{"version": "pathmapping-1.0", "path_mapping_rules": rules})
		args = append(args, "--path-mapping-rules", string(b))
	}
	r := s.Berth("", args...)
	var res job.OpenJDSubmitted
	err = json.Unmarshal([]byte(r.Stdout), &res)
	subs := res.Steps
	if err != nil || r.Code != 0 {
		// Say why: the failed tasks' ends and the end of their logs.
		why := fmt.Sprintf("submit exited %d: %s", r.Code, oneLine(r.Stderr))
		for _, sub := range subs {
			for tk, err := range c.TasksAll(context.Background(), sub.Job, client.TaskParams{}) {
				if err == nil && tk.State != job.Done {
					logs := s.Berth("", "logs", job.Ref{Job: sub.Job, Index: tk.Index, HasIndex: tk.Index > 0}.String()).Stdout
					why += fmt.Sprintf("; task %d.%d %s %s %q: ...%s", sub.Job, tk.Index, tk.State, tk.SubState, tk.Message, logs[max(0, len(logs)-400):])
				}
			}
		}
		return false, why
	}
	var out strings.Builder
	for _, sub := range subs {
		for tk, err := range c.TasksAll(context.Background(), sub.Job, client.TaskParams{}) {
			if err != nil {
				return false, err.Error()
			}
			out.WriteString(s.Berth("", "logs", job.Ref{Job: sub.Job, Index: tk.Index, HasIndex: tk.Index > 0}.String()).Stdout)
		}
	}
	text := out.String()
	for key, n := range fx.Expected {
		switch {
		case key == "output" || key == "output_posix" || key == "output_linux":
			for _, it := range n.Content {
				alts := []string{it.Value}
				if it.Kind != yaml.ScalarNode {
					var any struct {
						AnyOf []string `yaml:"anyOf"`
					}
					_ = it.Decode(&any)
					alts = any.AnyOf
				}
				if !slices.ContainsFunc(alts, func(s string) bool { return strings.Contains(text, s) }) {
					return false, fmt.Sprintf("output lacks %q in %q", alts, text[:min(len(text), 3000)])
				}
			}
		case key == "forbidden":
			var forbidden []string
			_ = n.Decode(&forbidden)
			for _, f := range forbidden {
				if strings.Contains(text, f) {
					return false, fmt.Sprintf("output has forbidden %q", f)
				}
			}
		}
	}
	return true, ""
}

func conformanceDir() string {
	if d := os.Getenv("OPENJD_CONFORMANCE_DIR"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "shared", "openjd-conformance")
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
