package openjd

import (
	"fmt"
	"strings"
)

// WRAP_ACTIONS (RFC 0008): an environment may define three wrap hooks
// that run in place of the actions of the environments entered inside it
// and of the tasks, with the wrapped action's fields as WrappedAction.*.

// Names of the wrap hooks in <EnvironmentActions>.
const (
	wrapEnvEnter = "onWrapEnvEnter"
	wrapTaskRun  = "onWrapTaskRun"
	wrapEnvExit  = "onWrapEnvExit"
)

// Symbols the session runtime gives the wrap hooks. The nullable ones are
// of unknown type for checks: null is one of their values.
const (
	WrappedCommand      = "WrappedAction.Command"
	WrappedArgs         = "WrappedAction.Args"
	WrappedEnvironment  = "WrappedAction.Environment"
	WrappedTimeout      = "WrappedAction.Timeout"
	WrappedCancelMode   = "WrappedAction.Cancelation.Mode"
	WrappedNotifyPeriod = "WrappedAction.Cancelation.NotifyPeriodInSeconds"
	WrappedEnvName      = "WrappedEnv.Name"
	WrappedStepName     = "WrappedStep.Name"
)

// wrappedSymbols are the symbols of the wrap hook named hook: the
// WrappedAction.* of all three, WrappedEnv.Name only in the environment
// hooks, WrappedStep.Name only in onWrapTaskRun.
func wrappedSymbols(syms symbols, hook string) symbols {
	out := syms.with(WrappedCommand)
	out[WrappedArgs] = "list[string]"
	out[WrappedEnvironment] = "list[string]"
	out[WrappedTimeout] = anyType
	out[WrappedCancelMode] = anyType
	out[WrappedNotifyPeriod] = anyType
	if hook == wrapTaskRun {
		out[WrappedStepName] = ""
	} else {
		out[WrappedEnvName] = ""
	}
	return out
}

// withWrapped returns the scopes of a wrap hook. Its timeout and
// cancelation are resolved on the worker when the hook runs, since they
// may forward the wrapped action's (they are never resolved at job
// creation).
func (sc scopes) withWrapped(hook string) scopes {
	return scopes{host: wrappedSymbols(sc.host, hook), job: wrappedSymbols(sc.job, hook)}
}

// wrapHooks checks the wrap hooks of an <EnvironmentActions>: they need
// the WRAP_ACTIONS extension and come all three or none. It reports
// whether the three are there and may be read.
func (c *checker) wrapHooks(acts map[string]*node, path string) bool {
	var have, missing []string
	for _, h := range []string{wrapEnvEnter, wrapTaskRun, wrapEnvExit} {
		if acts[h] != nil {
			have = append(have, h)
		} else {
			missing = append(missing, h)
		}
	}
	if len(have) == 0 {
		return false
	}
	if !c.ext.has(WrapActions) {
		for _, h := range have {
			c.errorf(field(path, h), "wrap hooks need the WRAP_ACTIONS extension")
		}
		return false
	}
	if len(missing) > 0 {
		c.errorf(path, "defines %s but not %s: the wrap hooks must be defined all three or none",
			strings.Join(have, ", "), strings.Join(missing, ", "))
		return false
	}
	return true
}

// checkWrapLayers enforces the single wrap layer: at most one environment
// of a session may define wrap hooks. A session runs the applied
// environment templates, the job's environments and one step's, so each
// step's stack is checked, before any environment is entered.
func (c *collector) checkWrapLayers(t *JobTemplate, envs []*EnvironmentTemplate) {
	first := "" // the path of the wrapping environment outside the steps
	second := func(path, name, first string) {
		c.errorf(path, "environment %s defines wrap hooks, and so does %s: a session may have only one wrapping environment (WRAP_ACTIONS)",
			name, first)
	}
	for k, e := range envs {
		if e.Environment.Wraps() {
			p := fmt.Sprintf("environments[%d].environment", k)
			if first != "" {
				second(p, e.Environment.Name, first)
				return
			}
			first = p
		}
	}
	for i := range t.JobEnvironments {
		if e := &t.JobEnvironments[i]; e.Wraps() {
			p := index("jobEnvironments", i)
			if first != "" {
				second(p, e.Name, first)
				return
			}
			first = p
		}
	}
	for i := range t.Steps {
		s := &t.Steps[i]
		outer := first
		for k := range s.StepEnvironments {
			if e := &s.StepEnvironments[k]; e.Wraps() {
				p := index(field(index("steps", i), "stepEnvironments"), k)
				if outer != "" {
					second(p, e.Name, outer)
					break
				}
				outer = p
			}
		}
	}
}
