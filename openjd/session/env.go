package session

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/berth-run/berth/openjd"
)

// EnterEnvironment enters env: it resolves the environment's variables,
// which every later action sees until env is exited, writes its embedded
// files and runs its onEnter. ext are the extensions enabled by the
// template that defines env (REDACTED_ENV_VARS decides whether
// openjd_redacted_env sets a variable).
//
// Whatever the result, env is on the session's stack afterwards and is
// exited by ExitEnvironments. A failed or canceled enter ends the session.
func (s *Session) EnterEnvironment(ctx context.Context, env *openjd.Environment, ext []openjd.Extension) (Result, error) {
	if err := s.usable(); err != nil {
		return Result{}, err
	}
	start := time.Now()
	w := wrapperOf(s.envs)
	if w != nil && env.Wraps() {
		// The job is checked for this when it is created (RFC 0008: a
		// single wrap layer); a caller that skipped it is refused too.
		return Result{}, fmt.Errorf("session: environment %s defines wrap hooks, but %s already does; a session may have one wrapping environment", env.Name, w.env.Name)
	}
	e := &activeEnv{env: env, redacted: slices.Contains(ext, openjd.RedactedEnvVars)}
	s.envs = append(s.envs, e)
	s.section("Entering Environment: " + env.Name)

	base := s.scope()
	if env.StepName != "" {
		base["Step.Name"] = env.StepName
	}
	var files []plannedFile
	if env.Script != nil {
		files = s.planFiles(env.Script.EmbeddedFiles, "Env.File", base)
	}
	e.files = map[string]string{}
	for _, f := range files {
		e.files[f.file.Name] = f.path
	}
	// The variables see the step's bindings; the script also its own.
	scope, err := s.bind(base, env.StepLet)
	if err != nil {
		return s.failed(start, "%v", err), nil
	}
	for _, v := range env.Variables {
		val, err := v.Value.Resolve(scope)
		if err != nil {
			return s.failed(start, "variable %s: %v", v.Name, err), nil
		}
		s.logf("Setting: %s=%s", v.Name, val)
		e.vars = append(e.vars, [2]string{v.Name, val})
	}
	if env.Script == nil || env.Script.OnEnter == nil {
		return Result{State: Succeeded, Duration: time.Since(start)}, nil
	}
	if scope, err = openjd.BindLets(scope, env.Script.Let); err != nil {
		return s.failed(start, "%v", err), nil
	}
	if err := s.writeFiles(files, "Env.File", scope); err != nil {
		return s.failed(start, "%v", err), nil
	}
	spec, err := s.resolveAction(env.Script.OnEnter, scope, NotifyPeriodDefault)
	if err != nil {
		return s.failed(start, "onEnter: %v", err), nil
	}
	spec.frame = e
	if w != nil {
		return s.runHook(ctx, w, hookRun{name: "onWrapEnvEnter", hook: w.env.Script.OnWrapEnvEnter, inner: spec,
			extra: map[string]string{openjd.WrappedEnvName: env.Name}, period: NotifyPeriodDefault, started: start}), nil
	}
	return s.run(ctx, spec), nil
}

// ExitEnvironments exits the innermost environments until keep remain,
// running each one's onExit with the environment still in effect. Every
// environment is exited even if one fails; the first failure is returned
// (a zero Result means none ran or all succeeded). A failed exit ends the
// session.
func (s *Session) ExitEnvironments(ctx context.Context, keep int) (Result, error) {
	if s.closed {
		return Result{}, ErrClosed
	}
	first := Result{State: Succeeded}
	for len(s.envs) > max(keep, 0) {
		r := s.exitOne(ctx)
		if !r.OK() && first.OK() {
			first = r
		}
	}
	return first, nil
}

func (s *Session) exitOne(ctx context.Context) Result {
	start := time.Now()
	e := s.envs[len(s.envs)-1]
	defer func() { s.envs = s.envs[:len(s.envs)-1] }()
	s.section("Exiting Environment: " + e.env.Name)
	if e.env.Script == nil || e.env.Script.OnExit == nil {
		return Result{State: Succeeded, Duration: time.Since(start)}
	}
	base := s.scope()
	if e.env.StepName != "" {
		base["Step.Name"] = e.env.StepName
	}
	for name, p := range e.files {
		base["Env.File."+name] = p
	}
	scope, err := s.bind(base, e.env.StepLet, e.env.Script.Let)
	if err != nil {
		return s.failed(start, "%v", err)
	}
	var files []plannedFile
	for _, f := range e.env.Script.EmbeddedFiles {
		files = append(files, plannedFile{file: f, path: e.files[f.Name]})
	}
	if err := s.writeFiles(files, "Env.File", scope); err != nil {
		return s.failed(start, "%v", err)
	}
	spec, err := s.resolveAction(e.env.Script.OnExit, scope, NotifyPeriodDefault)
	if err != nil {
		return s.failed(start, "onExit: %v", err)
	}
	if w := wrapperOf(s.envs[:len(s.envs)-1]); w != nil {
		return s.runHook(ctx, w, hookRun{name: "onWrapEnvExit", hook: w.env.Script.OnWrapEnvExit, inner: spec,
			extra: map[string]string{openjd.WrappedEnvName: e.env.Name}, period: NotifyPeriodDefault, started: start})
	}
	return s.run(ctx, spec)
}
