package openjd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/berth-run/berth/openjd/localrun"
	"github.com/berth-run/berth/openjd/session"
)

// execFixture is an execution fixture (jobs/NAME.test.yaml).
type execFixture struct {
	Template     yaml.Node            `yaml:"template"`
	Environments []yaml.Node          `yaml:"environments"`
	Parameters   map[string]yaml.Node `yaml:"parameters"`
	PathMapping  []struct {
		SourcePathFormat string `yaml:"source_path_format"`
		SourcePath       string `yaml:"source_path"`
		DestinationPath  string `yaml:"destination_path"`
	} `yaml:"pathMapping"`
	RunOn    []string             `yaml:"runOn"`
	Expected map[string]yaml.Node `yaml:"expected"`
}

// platforms are the runOn and output_<platform> names that apply here.
var platforms = []string{"posix", "linux"}

// fixtureTimeout bounds one fixture, so a hang fails it rather than the
// whole test.
const fixtureTimeout = 2 * time.Minute

// parseExecFixture reads an execution fixture; nil if it does not run on
// this platform.
func parseExecFixture(data []byte) (*execFixture, error) {
	var fx execFixture
	if err := yaml.Unmarshal(data, &fx); err != nil {
		return nil, err
	}
	if len(fx.RunOn) > 0 && !slices.ContainsFunc(fx.RunOn, func(p string) bool { return slices.Contains(platforms, p) }) {
		return nil, nil
	}
	return &fx, nil
}

// expectation is one expected output item: the run's output must contain
// one of the strings.
type expectation []string

func (e expectation) String() string { return strings.Join(e, " or ") }

// expectations reads expected.output and expected.output_<platform>.
func (fx *execFixture) expectations() ([]expectation, []string, error) {
	var want []expectation
	var forbidden []string
	for key, n := range fx.Expected {
		switch {
		case key == "output" || strings.HasPrefix(key, "output_") && slices.Contains(platforms, strings.TrimPrefix(key, "output_")):
			for _, it := range n.Content {
				if it.Kind == yaml.ScalarNode {
					want = append(want, expectation{it.Value})
					continue
				}
				var any struct {
					AnyOf []string `yaml:"anyOf"`
				}
				if err := it.Decode(&any); err != nil || len(any.AnyOf) == 0 {
					return nil, nil, fmt.Errorf("expected.%s: unreadable item", key)
				}
				want = append(want, any.AnyOf)
			}
		case key == "forbidden":
			if err := n.Decode(&forbidden); err != nil {
				return nil, nil, fmt.Errorf("expected.forbidden: %w", err)
			}
		}
	}
	return want, forbidden, nil
}

// runExecFixture runs an execution fixture the way `berth openjd run` runs
// a template: the template and environment templates loaded and the job
// created (template directory and working directory a temporary
// directory), then every step run in one local session.
func runExecFixture(t *testing.T, f *fixture) (bool, string) {
	fx := f.exec
	dir := t.TempDir()
	tmpl, err := yaml.Marshal(&fx.Template)
	if err != nil {
		return false, err.Error()
	}
	in := localrun.Input{Template: tmpl, TemplateDir: dir, WorkingDir: dir, Parameters: map[string]string{}}
	for i := range fx.Environments {
		b, err := yaml.Marshal(&fx.Environments[i])
		if err != nil {
			return false, err.Error()
		}
		in.Environments = append(in.Environments, b)
	}
	for k, v := range fx.Parameters {
		in.Parameters[k] = v.Value
		if v.Kind != yaml.ScalarNode {
			// A list value is submitted as JSON, as with -p Name=[...].
			var x any
			if err := v.Decode(&x); err != nil {
				return false, err.Error()
			}
			b, err := json.Marshal(x)
			if err != nil {
				return false, err.Error()
			}
			in.Parameters[k] = string(b)
		}
	}
	var rules []session.PathMappingRule
	for _, r := range fx.PathMapping {
		rules = append(rules, session.PathMappingRule{SourcePathFormat: r.SourcePathFormat, SourcePath: r.SourcePath,
			DestinationPath: r.DestinationPath})
	}
	job, err := localrun.Load(in)
	if err != nil {
		if f.invalid {
			return true, "refused: " + oneLine(err.Error())
		}
		return false, "refused: " + oneLine(err.Error())
	}
	var out bytes.Buffer
	lw := localrun.NewLogWriter(&out, localrun.TimestampRelative, time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), fixtureTimeout)
	defer cancel()
	res, err := localrun.Run(ctx, localrun.Options{Job: job, PathMappingRules: rules, Log: lw.Log, Root: dir})
	if err != nil {
		if f.invalid {
			return true, "run: " + oneLine(err.Error())
		}
		return false, "run: " + oneLine(err.Error())
	}
	out.WriteString(res.Summary())
	if f.invalid {
		if res.Succeeded {
			return false, "ran successfully, but the fixture is invalid"
		}
		return true, "failed at " + res.FailedAction + ": " + res.Failure.Message
	}
	text := out.String()
	if n, ok := fx.Expected["taskFailure"]; ok {
		var tf struct {
			ExitCode *int `yaml:"exitCode"`
		}
		_ = n.Decode(&tf)
		switch {
		case res.Succeeded:
			return false, "the session succeeded; a task failure was expected"
		case tf.ExitCode != nil && res.Failure.ExitCode != *tf.ExitCode:
			return false, fmt.Sprintf("failed with exit code %d, expected %d", res.Failure.ExitCode, *tf.ExitCode)
		}
	} else if !res.Succeeded {
		return false, fmt.Sprintf("session failed at %s: %s%s", res.FailedAction, res.Failure.Message, tail(text))
	}
	want, forbidden, err := fx.expectations()
	if err != nil {
		return false, err.Error()
	}
	for _, w := range want {
		if !slices.ContainsFunc(w, func(s string) bool { return strings.Contains(text, s) }) {
			return false, fmt.Sprintf("output lacks %q%s", w, tail(text))
		}
	}
	for _, s := range forbidden {
		if strings.Contains(text, s) {
			return false, fmt.Sprintf("output has forbidden %q", s)
		}
	}
	return true, ""
}

// tail quotes the end of the output for a failure message, when asked for
// with -v.
func tail(s string) string {
	if !testing.Verbose() {
		return ""
	}
	const n = 1500
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return "\n--- output:\n" + s
}
