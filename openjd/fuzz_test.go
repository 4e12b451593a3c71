package openjd

import "testing"

// The fuzz targets check that no input makes the parsers panic.

func FuzzRangeExpr(f *testing.F) {
	for _, s := range []string{"1-10:2,20", "1 - -1", "-9223372036854775808-9223372036854775807", "10-1:-3", "1,,", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseIntRange(s)
		if err != nil {
			return
		}
		if n := r.Len(); n > 0 {
			_, _ = r.At(0), r.At(n-1)
			if r2, err := ParseIntRange(r.String()); err != nil || r2.Len() != n {
				t.Fatalf("%q: canonical form %q does not round-trip: %v", s, r.String(), err)
			}
		}
	})
}

func FuzzCombinationExpr(f *testing.F) {
	for _, s := range []string{"A * B", "(A, B) * C", "((A,B),(C,D))", "(((((A)))))", "A @ B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCombination(s)
		if err != nil {
			return
		}
		if _, err := ParseCombination(c.String()); err != nil {
			t.Fatalf("%q: canonical form %q does not parse: %v", s, c, err)
		}
	})
}

func FuzzFormatString(f *testing.F) {
	for _, s := range []string{"plain", "{{Param.X}}", "a {{ Task.Param.F }} b {{RawParam.Y}}", "{{", "}}{{x}}", "{{ 1 + 2 }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fs, err := ParseFormatString(s, NameParser{})
		if err != nil {
			return
		}
		if _, err := fs.Resolve(MapScope{"Param.X": "1"}); err != nil && fs.IsLiteral() {
			t.Fatalf("literal %q failed to resolve: %v", s, err)
		}
	})
}

// maxFuzzTemplate bounds the inputs of FuzzLoadTemplate.
const maxFuzzTemplate = 1 << 10

func FuzzLoadTemplate(f *testing.F) {
	f.Add([]byte("specificationVersion: jobtemplate-2023-09\nname: J\nsteps:\n- name: S\n  script:\n    actions:\n      onRun: {command: echo}\n"))
	f.Add([]byte("specificationVersion: environment-2023-09\nenvironment: {name: E, variables: {A: '{{Session.WorkingDirectory}}'}}\n"))
	f.Add([]byte(`{"specificationVersion": "jobtemplate-2023-09", "extensions": ["TASK_CHUNKING"], "name": "x", "steps": [{"name": "s",
"parameterSpace": {"taskParameterDefinitions": [{"name": "F", "type": "CHUNK[INT]", "range": "1-10",
"chunks": {"defaultTaskCount": 2, "rangeConstraint": "CONTIGUOUS"}}], "combination": "F"},
"dependencies": [{"dependsOn": "s"}], "script": {"actions": {"onRun": {"command": "a"}}}}]}`))
	f.Add([]byte("a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n" +
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d]\nsteps: [*e, *e, *e, *e, *e, *e, *e, *e]\n"))
	f.Add([]byte("specificationVersion: jobtemplate-2023-09\nextensions: [EXPR]\nname: J\nparameterDefinitions:\n" +
		"- {name: L, type: \"LIST[LIST[INT]]\", default: [[1], [2, 3]], item: {maxLength: 2, item: {maxValue: 5}}}\n" +
		"- {name: P, type: \"list[path]\", default: [a, ../b]}\n" +
		"steps:\n- name: S\n  let: [\"n = len(Param.L)\", \"m = [x for x in Param.L]\"]\n" +
		"  parameterSpace: {taskParameterDefinitions: [{name: F, type: string, range: \"{{ [string(x) for x in flatten(Param.L)] }}\"}]}\n" +
		"  script: {let: [\"k = n + 1\"], actions: {onRun: {command: echo, args: [\"{{ k }}\"]}}}\n"))
	f.Add([]byte("specificationVersion: environment-2023-09\nextensions: [EXPR]\nenvironment: {name: E, script: {let: [\"x = Job.Name\", \"x = 2\"], " +
		"actions: {onEnter: {command: echo, args: [\"{{ x }}\"]}}}}\n"))
	// WRAP_ACTIONS: hooks in a job environment (with a format-string
	// mode and timeout), in an environment template, and a partial set.
	f.Add([]byte("specificationVersion: jobtemplate-2023-09\nextensions: [WRAP_ACTIONS, EXPR, FEATURE_BUNDLE_1]\nname: J\n" +
		"jobEnvironments:\n- name: W\n  script:\n    let: [\"g = 'x'\"]\n    actions:\n" +
		"      onWrapEnvEnter: {command: \"{{WrappedAction.Command}}\", args: [\"{{WrappedAction.Args}}\", \"{{WrappedEnv.Name}}\"]}\n" +
		"      onWrapTaskRun: {command: sh, args: [\"{{ repr_sh(WrappedAction.Environment) }}\", \"{{WrappedStep.Name}}\"], " +
		"timeout: \"{{WrappedAction.Timeout}}\", cancelation: {mode: \"{{WrappedAction.Cancelation.Mode}}\", " +
		"notifyPeriodInSeconds: \"{{WrappedAction.Cancelation.NotifyPeriodInSeconds}}\"}}\n" +
		"      onWrapEnvExit: {command: echo, args: [\"{{ g }}\"]}\n" +
		"steps:\n- name: S\n  stepEnvironments: [{name: I, variables: {A: b}}]\n  script: {actions: {onRun: {command: echo}}}\n"))
	f.Add([]byte("specificationVersion: environment-2023-09\nextensions: [WRAP_ACTIONS, EXPR]\nenvironment: {name: E, script: {actions: {" +
		"onEnter: {command: echo}, onWrapEnvEnter: {command: a}, onWrapTaskRun: {command: \"{{WrappedAction.Command}}\"}, " +
		"onWrapEnvExit: {command: \"{{WrappedEnv.Name}}\"}}}}\n"))
	f.Add([]byte("specificationVersion: environment-2023-09\nextensions: [WRAP_ACTIONS]\nenvironment: {name: E, script: {actions: {" +
		"onWrapTaskRun: {command: x, cancelation: {mode: \"{{ 'NOTIFY' }}_THEN_TERMINATE\"}}}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Templates are small; a bound keeps every input fast.
		if len(data) > maxFuzzTemplate {
			return
		}
		_ = Check(data, Options{})
		jt, err := ParseJobTemplate(data, Options{})
		if err != nil {
			return
		}
		for _, s := range jt.Steps {
			if s.ParameterSpace == nil {
				continue
			}
			if sp, err := s.ParameterSpace.Space(nil); err == nil && sp.Len() > 0 {
				sp.Task(sp.Len()-1, nil)
			}
		}
		// Creating the job with the defaults resolves what depends on
		// parameter values: names, ranges, chunks, host requirements.
		job, err := CreateJob(jt, JobInput{TemplateDir: "/t", WorkingDir: "/w"})
		if err != nil {
			return
		}
		for _, s := range job.Steps {
			if s.Space != nil && s.Space.Len() > 0 {
				s.Space.Task(0, nil)
				s.Space.Task(s.Space.Len()-1, nil)
			}
		}
	})
}

func FuzzListValue(f *testing.F) {
	for _, s := range []string{`["a", "b"]`, `[1, 2.5, "3"]`, `[[1], [2, 3]]`, `[true, "no", 0]`, `[[[1]]]`, `{"a": 1}`, `[null]`, `[1] [2]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, lt := range listTypes {
			v, err := parseList(lt, s)
			if err != nil {
				continue
			}
			// The canonical text reads back as the same value.
			v2, err := parseList(lt, v.String())
			if err != nil || v2.String() != v.String() {
				t.Fatalf("%s %q: canonical form %q does not round-trip: %v", lt, s, v.String(), err)
			}
			d := ParameterDefinition{Type: lt, MaxLength: ptr(int64(3)),
				Item: &ItemConstraints{MinLength: ptr(int64(1)), MaxValue: ptr("2"), Item: &ItemConstraints{MaxValue: ptr("1")}}}
			_ = d.checkList(v)
			_ = ParameterValue{Type: lt, Value: v.String()}.MappedValue(func(p string) string { return p })
		}
	})
}
