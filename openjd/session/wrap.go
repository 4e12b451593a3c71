package session

import (
	"context"
	"time"

	"github.com/berth-run/berth/openjd"
	"github.com/berth-run/berth/openjd/expr"
)

// WRAP_ACTIONS (RFC 0008): while an environment that defines the wrap
// hooks is on the stack, the onEnter and onExit of the environments inside
// it and the onRun of every task are resolved as usual but not run; the
// wrapping environment's hook runs in their place, with the resolved
// action as WrappedAction.*. A hook is the action it replaces: its
// result, its openjd_env and its failure are that action's.

// wrapperOf returns the wrapping environment of a stack, or nil. There is
// at most one: EnterEnvironment refuses a second.
func wrapperOf(envs []*activeEnv) *activeEnv {
	for _, e := range envs {
		if e.env.Wraps() {
			return e
		}
	}
	return nil
}

// looseVar records an openjd_env of an action other than an onEnter. Such
// an assignment sets nothing for later actions, but is part of the
// session's variables that wrap hooks forward.
func (s *Session) looseVar(name, value string) {
	s.mu.Lock()
	s.loose = append(s.loose, [2]string{name, value})
	s.mu.Unlock()
	if wrapperOf(s.envs) == nil {
		s.logf("openjd_env is only honoured in an environment's onEnter; %s is not set", name)
	} else {
		s.logf("openjd_env outside an onEnter sets nothing; wrap hooks see %s in WrappedAction.Environment", name)
	}
}

// wrappedEnvironment is WrappedAction.Environment: the variables the
// session defined (the environments' variables and openjd_env
// assignments, then those of other actions), without the host's.
func (s *Session) wrappedEnvironment() []string {
	s.mu.Lock()
	loose := append([][2]string(nil), s.loose...)
	s.mu.Unlock()
	return s.mergeVars(nil, loose)
}

// envScope is the scope of an entered environment's actions: the
// session's values, Step.Name, its embedded files and its let bindings.
func (s *Session) envScope(e *activeEnv) (openjd.Scope, error) {
	base := s.scope()
	if e.env.StepName != "" {
		base["Step.Name"] = e.env.StepName
	}
	for name, p := range e.files {
		base["Env.File."+name] = p
	}
	var lets []openjd.Let
	if e.env.Script != nil {
		lets = e.env.Script.Let
	}
	return s.bind(base, e.env.StepLet, lets)
}

// hookRun is one wrapped action.
type hookRun struct {
	name    string // onWrapEnvEnter, onWrapTaskRun or onWrapEnvExit
	hook    *openjd.Action
	inner   actionSpec // the wrapped action, resolved
	extra   map[string]string
	period  time.Duration // the hook's default notify period
	started time.Time
}

// runHook runs a hook of the wrapping environment w in place of h.inner.
func (s *Session) runHook(ctx context.Context, w *activeEnv, h hookRun) Result {
	scope, err := s.envScope(w)
	if err != nil {
		return s.failed(h.started, "%s of %s: %v", h.name, w.env.Name, err)
	}
	in := h.inner
	args := make([]expr.Value, len(in.args))
	for i, a := range in.args {
		args[i] = expr.StringValue(a)
	}
	env := s.wrappedEnvironment()
	envList := make([]expr.Value, len(env))
	for i, kv := range env {
		envList[i] = expr.StringValue(kv)
	}
	vars := map[string]expr.Value{
		openjd.WrappedCommand:      expr.StringValue(in.command),
		openjd.WrappedArgs:         expr.ListValue(args),
		openjd.WrappedEnvironment:  expr.ListValue(envList),
		openjd.WrappedTimeout:      expr.Null,
		openjd.WrappedCancelMode:   expr.Null,
		openjd.WrappedNotifyPeriod: expr.Null,
	}
	if in.timeout > 0 {
		vars[openjd.WrappedTimeout] = expr.IntValue(int64(in.timeout / time.Second))
	}
	if in.mode != "" {
		vars[openjd.WrappedCancelMode] = expr.StringValue(in.mode)
	}
	if in.notify {
		// The effective period, defaults included, as the runtime would
		// have enforced it on the wrapped action.
		vars[openjd.WrappedNotifyPeriod] = expr.IntValue(int64(in.period / time.Second))
	}
	for k, v := range h.extra {
		vars[k] = expr.StringValue(v)
	}
	spec, err := s.resolveAction(h.hook, openjd.Values{Base: scope, Vars: vars}, h.period)
	if err != nil {
		return s.failed(h.started, "%s of %s: %v", h.name, w.env.Name, err)
	}
	// The hook's openjd_env goes where the wrapped action's would.
	spec.frame = in.frame
	// Only the command's name: the wrapped arguments are the inner
	// action's business and stay out of the log, as they would unwrapped.
	s.logf("Wrapped by %s of environment %s: %s", h.name, w.env.Name, in.command)
	return s.run(ctx, spec)
}
