package session

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-run/berth/openjd"
)

// TaskParam is the value of one task parameter of a task.
type TaskParam struct {
	Name  string
	Type  openjd.TaskParameterType
	Value string
}

// FormatParams lists a task's parameter values as NAME=VALUE, comma
// separated.
func FormatParams(params []TaskParam) string {
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = p.Name + "=" + p.Value
	}
	return strings.Join(parts, ", ")
}

// TaskParams returns the parameters of task i of a parameter space.
func TaskParams(space *openjd.ParameterSpace, i int64) []TaskParam {
	if space == nil {
		return nil
	}
	vals := space.Task(i, nil)
	out := make([]TaskParam, len(vals))
	for k, p := range space.Params() {
		out[k] = TaskParam{Name: p.Name, Type: p.Type, Value: vals[k].String()}
	}
	return out
}

// simpleInterpreters are the commands of FEATURE_BUNDLE_1's simple actions
// and the extension their script file gets.
var simpleInterpreters = map[string]struct {
	command, ext string
	pre          []string // arguments before the script file
}{
	"bash":       {"bash", ".sh", nil},
	"python":     {"python", ".py", nil},
	"node":       {"node", ".js", nil},
	"powershell": {"powershell", ".ps1", []string{"-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File"}},
	"cmd":        {"cmd", ".bat", []string{"/C"}},
}

// RunTask runs one task of step with the given task parameter values: it
// writes the step's embedded files and runs its onRun (or its simple
// action) in the session's current environments. A failed or canceled
// task ends the session.
func (s *Session) RunTask(ctx context.Context, step *openjd.Step, params []TaskParam) (Result, error) {
	if err := s.usable(); err != nil {
		return Result{}, err
	}
	start := time.Now()
	s.section("Running Task")
	scope := s.scope()
	if len(params) > 0 {
		s.logf("Parameter values:")
	}
	for _, p := range params {
		s.logf("%s(%s) = %s", p.Name, p.Type, p.Value)
		v := p.Value
		if p.Type == openjd.TaskPath {
			v = s.mapper.Map(v)
		}
		scope["Task.Param."+p.Name] = v
		scope["Task.RawParam."+p.Name] = p.Value
	}
	scope["Step.Name"] = step.Name
	var spec actionSpec
	var files []plannedFile
	switch {
	case step.Script != nil:
		files = s.planFiles(step.Script.EmbeddedFiles, "Task.File", scope)
		scope, err := s.bind(scope, step.Let, step.Script.Let)
		if err != nil {
			return s.failed(start, "%v", err), nil
		}
		if err := s.writeFiles(files, "Task.File", scope); err != nil {
			return s.failed(start, "%v", err), nil
		}
		if spec, err = s.resolveAction(&step.Script.OnRun, scope, NotifyPeriodOnRun); err != nil {
			return s.failed(start, "onRun: %v", err), nil
		}
	case step.SimpleAction != nil:
		a := step.SimpleAction
		scope, err := s.bind(scope, step.Let, a.Let)
		if err != nil {
			return s.failed(start, "%v", err), nil
		}
		in, ok := simpleInterpreters[a.Interpreter]
		if !ok {
			return s.failed(start, "unknown interpreter %q", a.Interpreter), nil
		}
		// The script becomes a runnable file named for its interpreter,
		// run as: <interpreter> <file> <args...>.
		f := openjd.EmbeddedFile{Name: "Script", Filename: randomName(in.ext), Runnable: true, Data: a.Script}
		files = []plannedFile{{file: f, path: filepath.Join(s.filesDir, f.Filename)}}
		if err := s.writeFiles(files, "Task.File", scope); err != nil {
			return s.failed(start, "%v", err), nil
		}
		spec.command = in.command
		spec.args = append(append(append([]string(nil), in.pre...), files[0].path), spec.args...)
		for i, f := range a.Args {
			v, err := f.ResolveItems(scope)
			if err != nil {
				return s.failed(start, "%s.args[%d]: %v", a.Interpreter, i, err), nil
			}
			spec.args = append(spec.args, v...)
		}
		if err := s.resolveLimits(&spec, a.Timeout, a.Cancelation, scope, NotifyPeriodOnRun); err != nil {
			return s.failed(start, "%s: %v", a.Interpreter, err), nil
		}
	default:
		return Result{}, fmt.Errorf("session: step %q has no script", step.Name)
	}
	if w := wrapperOf(s.envs); w != nil {
		return s.runHook(ctx, w, hookRun{name: "onWrapTaskRun", hook: w.env.Script.OnWrapTaskRun, inner: spec,
			extra: map[string]string{openjd.WrappedStepName: step.Name}, period: NotifyPeriodOnRun, started: start}), nil
	}
	return s.run(ctx, spec), nil
}
