package openjd

import "go.yaml.in/yaml/v3"

// EnvironmentTemplate is an environment defined outside a job (Template
// Schemas 1.2).
type EnvironmentTemplate struct {
	SpecificationVersion string
	Extensions           []Extension
	ParameterDefinitions []ParameterDefinition
	Environment          Environment
}

// Environment is set up before tasks run and torn down after (Template
// Schemas 4).
type Environment struct {
	Name        string
	Description string
	Script      *EnvironmentScript
	Variables   []EnvVar
	// StepName and StepLet are set for a step's environments with EXPR:
	// the step's name (Step.Name) and let bindings, which the
	// environment sees.
	StepName string
	StepLet  []Let
}

// EnvVar is one variable an environment sets, in template order.
type EnvVar struct {
	Name  string
	Value FormatString
}

// EnvironmentScript holds an environment's actions and files.
type EnvironmentScript struct {
	// Let are bindings evaluated when the environment is entered or
	// exited (EXPR), seen by its actions and embedded files.
	Let             []Let
	OnEnter, OnExit *Action
	// OnWrapEnvEnter, OnWrapTaskRun and OnWrapEnvExit are the wrap hooks
	// of WRAP_ACTIONS (RFC 0008): all three or none. They run in place of
	// the onEnter and onExit of the environments entered inside this one
	// and of the onRun of every task.
	OnWrapEnvEnter, OnWrapTaskRun, OnWrapEnvExit *Action
	EmbeddedFiles                                []EmbeddedFile
}

// Wraps reports whether the environment defines the wrap hooks
// (WRAP_ACTIONS), which makes it the wrapping environment of a session.
func (e *Environment) Wraps() bool {
	return e.Script != nil && e.Script.OnWrapTaskRun != nil
}

func (c *checker) environmentTemplate(root *node) *EnvironmentTemplate {
	raw, ok := c.object(root, "", "specificationVersion", "$schema", "extensions", "parameterDefinitions", "environment")
	if !ok {
		return nil
	}
	t := &EnvironmentTemplate{SpecificationVersion: EnvironmentTemplateVersion}
	c.specificationVersion(raw, EnvironmentTemplateVersion)
	c.readExtensions(raw, &t.Extensions)
	if v := raw["parameterDefinitions"]; v != nil {
		t.ParameterDefinitions = c.paramDefs(v, "parameterDefinitions")
	}
	sc := scopesFor(t.ParameterDefinitions)
	if c.ext.has(ExprExtension) {
		// The environment runs in some job's session.
		sc.host = sc.host.with("Job.Name")
	}
	if c.require(raw, "", "environment") {
		if e := c.environment(raw["environment"], "environment", sc); e != nil {
			t.Environment = *e
		}
	}
	return t
}

// environments reads a list of environments with distinct names; taken
// holds names already used in the template and is extended.
func (c *checker) environments(n *node, path string, sc scopes, taken map[string]string) []Environment {
	items, ok := c.list(n, path, 1)
	if !ok {
		return nil
	}
	var envs []Environment
	for i, it := range items {
		p := index(path, i)
		e := c.environment(it, p, sc)
		if e == nil {
			continue
		}
		if first, ok := taken[e.Name]; ok && e.Name != "" {
			c.errorf(field(p, "name"), "environment name %q is already used at %s", e.Name, first)
		} else {
			taken[e.Name] = field(p, "name")
		}
		envs = append(envs, *e)
	}
	return envs
}

func (c *checker) environment(n *node, path string, sc scopes) *Environment {
	raw, ok := c.object(n, path, "name", "description", "script", "variables")
	if !ok {
		return nil
	}
	e := &Environment{}
	e.Name, e.Description = c.nameAndDescription(raw, path, c.lim.envName)
	if raw["script"] == nil && raw["variables"] == nil {
		c.errorf(path, "must have a script or variables")
	}
	// Env.File.<name> refers to this environment's own embedded files.
	var files []string
	if s := deref(raw["script"]); s != nil {
		for i := 0; i+1 < len(s.Content); i += 2 {
			if s.Content[i].Value == "embeddedFiles" {
				files = fileNames(s.Content[i+1])
			}
		}
	}
	host := sc.host
	for _, f := range files {
		host = host.withType("Env.File."+f, "path")
	}
	if v := raw["variables"]; v != nil {
		e.Variables = c.variables(v, field(path, "variables"), host)
	}
	if v := raw["script"]; v != nil {
		e.Script = c.envScript(v, field(path, "script"), scopes{host: host, job: sc.job})
	}
	return e
}

func (c *checker) variables(n *node, path string, syms symbols) []EnvVar {
	m := deref(n)
	if m == nil || m.Kind != yaml.MappingNode {
		c.errorf(path, "must be an object, not %s", kindName(n))
		return nil
	}
	if len(m.Content) == 0 {
		c.errorf(path, "must have at least one variable")
	}
	var vars []EnvVar
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		name := deref(m.Content[i]).Value
		p := field(path, name)
		switch {
		case !isIdentifier(name):
			c.errorf(p, "%q is not a valid variable name: latin letters, digits and '_', not starting with a digit", name)
		case runeLen(name) > maxEnvVarName:
			c.errorf(p, "the name is longer than %d characters", maxEnvVarName)
		case seen[name]:
			c.errorf(p, "variable given twice")
		}
		seen[name] = true
		f, ok := c.format(m.Content[i+1], p, syms)
		if !ok {
			continue
		}
		if runeLen(f.String()) > maxEnvVarValue {
			c.errorf(p, "the value is longer than %d characters", maxEnvVarValue)
		}
		vars = append(vars, EnvVar{Name: name, Value: f})
	}
	return vars
}

func (c *checker) envScript(n *node, path string, sc scopes) *EnvironmentScript {
	raw, ok := c.object(n, path, "let", "actions", "embeddedFiles")
	if !ok || !c.require(raw, path, "actions") {
		return nil
	}
	s := &EnvironmentScript{}
	s.Let, sc.host = c.lets(raw["let"], field(path, "let"), sc.host)
	ap := field(path, "actions")
	if acts, ok := c.object(raw["actions"], ap, "onEnter", "onExit", wrapEnvEnter, wrapTaskRun, wrapEnvExit); ok {
		hooks := c.wrapHooks(acts, ap)
		// The wrap hooks stand in for onEnter and onExit; if only some
		// are there, wrapHooks says so.
		if acts["onEnter"] == nil && acts["onExit"] == nil &&
			acts[wrapEnvEnter] == nil && acts[wrapTaskRun] == nil && acts[wrapEnvExit] == nil {
			c.errorf(ap, "must have onEnter or onExit")
		}
		if v := acts["onEnter"]; v != nil {
			s.OnEnter = c.action(v, field(ap, "onEnter"), sc)
		}
		if v := acts["onExit"]; v != nil {
			s.OnExit = c.action(v, field(ap, "onExit"), sc)
		}
		if hooks {
			// Only the hooks see the wrapped action: the script's let
			// bindings and embedded files are shared with onEnter and
			// onExit, where it does not exist.
			s.OnWrapEnvEnter = c.action(acts[wrapEnvEnter], field(ap, wrapEnvEnter), sc.withWrapped(wrapEnvEnter))
			s.OnWrapTaskRun = c.action(acts[wrapTaskRun], field(ap, wrapTaskRun), sc.withWrapped(wrapTaskRun))
			s.OnWrapEnvExit = c.action(acts[wrapEnvExit], field(ap, wrapEnvExit), sc.withWrapped(wrapEnvExit))
			if s.OnWrapEnvEnter == nil || s.OnWrapTaskRun == nil || s.OnWrapEnvExit == nil {
				// Already reported; a script with part of the hooks must
				// never wrap.
				s.OnWrapEnvEnter, s.OnWrapTaskRun, s.OnWrapEnvExit = nil, nil, nil
			}
		}
	}
	if v := raw["embeddedFiles"]; v != nil {
		s.EmbeddedFiles = c.embeddedFiles(v, field(path, "embeddedFiles"), sc.host)
	}
	return s
}

// scopesFor builds the symbol tables of a template from its job
// parameters (Template Schemas 7.3.1). PATH parameters' Param.* values are
// path-mapped on the host, so they exist only in host-evaluated strings.
func scopesFor(params []ParameterDefinition) scopes {
	job := symbols{}
	host := symbols{
		"Session.WorkingDirectory":     "path",
		"Session.HasPathMappingRules":  "bool",
		"Session.PathMappingRulesFile": "path",
	}
	for _, p := range params {
		job["RawParam."+p.Name] = rawExprType(p.Type)
		host["RawParam."+p.Name] = rawExprType(p.Type)
		host["Param."+p.Name] = exprType(p.Type)
		if !p.Type.isPathLike() {
			job["Param."+p.Name] = exprType(p.Type)
		}
	}
	return scopes{host: host, job: job}
}
