package openjd

import (
	"github.com/berth-run/berth/openjd/expr"
	"slices"
	"strings"
)

// JobTemplate is a job template (Template Schemas 1.1).
type JobTemplate struct {
	SpecificationVersion string
	Extensions           []Extension
	Name                 FormatString
	Description          string
	ParameterDefinitions []ParameterDefinition
	JobEnvironments      []Environment
	Steps                []Step
}

// Step is one step of a job (Template Schemas 3).
type Step struct {
	Name        string
	Description string
	// Let are the step's let bindings (EXPR), seen by every other field
	// of the step.
	Let              []Let
	Dependencies     []string
	StepEnvironments []Environment
	HostRequirements *HostRequirements
	// ParameterSpace is nil for a step run once.
	ParameterSpace *StepParameterSpace
	// Exactly one of Script and SimpleAction is set.
	Script       *StepScript
	SimpleAction *SimpleAction
}

// StepScript holds a step's action and files.
type StepScript struct {
	// Let are bindings evaluated for each task (EXPR), after the step's.
	Let           []Let
	OnRun         Action
	EmbeddedFiles []EmbeddedFile
}

// SimpleAction is FEATURE_BUNDLE_1's shorthand for a step that runs a script
// with an interpreter (bash, cmd, node, powershell, python).
type SimpleAction struct {
	// Let are bindings evaluated for each task (EXPR), after the step's.
	Let         []Let
	Interpreter string
	Script      FormatString
	Args        []FormatString
	Timeout     *IntOrFormat
	Cancelation *Cancelation
}

var simpleInterpreters = []string{"bash", "cmd", "node", "powershell", "python"}

func (c *checker) jobTemplate(root *node) *JobTemplate {
	raw, ok := c.object(root, "", "specificationVersion", "$schema", "extensions", "name", "description",
		"parameterDefinitions", "jobEnvironments", "steps")
	if !ok {
		return nil
	}
	t := &JobTemplate{SpecificationVersion: JobTemplateVersion}
	c.specificationVersion(raw, JobTemplateVersion)
	c.readExtensions(raw, &t.Extensions)
	if v := raw["parameterDefinitions"]; v != nil {
		t.ParameterDefinitions = c.paramDefs(v, "parameterDefinitions")
	}
	sc := scopesFor(t.ParameterDefinitions)
	if c.require(raw, "", "name") {
		if f, ok := c.format(raw["name"], "name", sc.job); ok {
			c.checkName(f.String(), "name", c.lim.jobName)
			t.Name = f
		}
	}
	if c.ext.has(ExprExtension) {
		// EXPR makes the resolved job name a symbol of everything but
		// the name itself (Template Schemas 7.3.1).
		sc.job, sc.host = sc.job.with("Job.Name"), sc.host.with("Job.Name")
		if name := t.Name.String(); name != "" && !isFormatString(name) {
			sc.job.setKnown("Job.Name", expr.StringValue(name))
			sc.host.setKnown("Job.Name", expr.StringValue(name))
		}
	}
	if v := raw["description"]; v != nil {
		if s, ok := c.str(v, "description"); ok {
			c.checkDescription(s, "description")
			t.Description = s
		}
	}
	envNames := map[string]string{}
	if v := raw["jobEnvironments"]; v != nil {
		t.JobEnvironments = c.environments(v, "jobEnvironments", sc, envNames)
	}
	if c.require(raw, "", "steps") {
		t.Steps = c.steps(raw["steps"], "steps", sc, envNames)
	}
	return t
}

func (c *checker) specificationVersion(raw map[string]*node, want string) {
	if !c.require(raw, "", "specificationVersion") {
		return
	}
	if s, ok := c.str(raw["specificationVersion"], "specificationVersion"); ok && s != want {
		c.errorf("specificationVersion", "is %q, expected %q", s, want)
	}
}

func (c *checker) readExtensions(raw map[string]*node, dst *[]Extension) {
	v := raw["extensions"]
	if v == nil {
		return
	}
	set := c.checkExtensions(v, "extensions", c.supported)
	c.enable(set)
	for _, e := range []Extension{TaskChunking, RedactedEnvVars, FeatureBundle1, ExprExtension, WrapActions} {
		if set.has(e) {
			*dst = append(*dst, e)
		}
	}
}

func (c *checker) steps(n *node, path string, sc scopes, jobEnvs map[string]string) []Step {
	items, ok := c.list(n, path, 1)
	if !ok {
		return nil
	}
	var steps []Step
	names := map[string]string{}
	for i, it := range items {
		p := index(path, i)
		s := c.step(it, p, sc, jobEnvs)
		if s == nil {
			continue
		}
		if first, dup := names[s.Name]; dup && s.Name != "" {
			c.errorf(field(p, "name"), "step name %q is already used at %s", s.Name, first)
		} else {
			names[s.Name] = field(p, "name")
		}
		steps = append(steps, *s)
	}
	c.dependencies(steps, path)
	return steps
}

func (c *checker) step(n *node, path string, sc scopes, jobEnvs map[string]string) *Step {
	keys := []string{"name", "description", "dependencies", "stepEnvironments", "hostRequirements",
		"parameterSpace", "script", "let"}
	raw, ok := c.object(n, path, append(keys, simpleInterpreters...)...)
	if !ok {
		return nil
	}
	s := &Step{}
	s.Name, s.Description = c.nameAndDescription(raw, path, c.lim.stepName)
	if v := raw["dependencies"]; v != nil {
		p := field(path, "dependencies")
		items, _ := c.list(v, p, 1)
		for i, it := range items {
			ip := index(p, i)
			if d, ok := c.object(it, ip, "dependsOn"); ok && c.require(d, ip, "dependsOn") {
				if name, ok := c.str(d["dependsOn"], field(ip, "dependsOn")); ok {
					s.Dependencies = append(s.Dependencies, name)
				}
			}
		}
	}
	if c.ext.has(ExprExtension) {
		sc.job, sc.host = sc.job.with("Step.Name"), sc.host.with("Step.Name")
		if s.Name != "" {
			sc.job.setKnown("Step.Name", expr.StringValue(s.Name))
			sc.host.setKnown("Step.Name", expr.StringValue(s.Name))
		}
	}
	if v := raw["let"]; v != nil {
		// The step's bindings are resolved with the job, in the scope of
		// its other creation-time fields, and seen by all of its fields.
		var job symbols
		s.Let, job = c.lets(v, field(path, "let"), sc.job)
		host := sc.host.with()
		for name := range letNames(job) {
			host[name] = job[name]
			if v, ok := job[knownKey(name)]; ok {
				host[knownKey(name)] = v
			}
		}
		sc.job, sc.host = job, host
	}
	if v := raw["stepEnvironments"]; v != nil {
		// Step environments share the job environments' names space but
		// not each other steps'.
		taken := make(map[string]string, len(jobEnvs))
		for k, v := range jobEnvs {
			taken[k] = v
		}
		s.StepEnvironments = c.environments(v, field(path, "stepEnvironments"), sc, taken)
		if c.ext.has(ExprExtension) {
			for k := range s.StepEnvironments {
				s.StepEnvironments[k].StepName = s.Name
				s.StepEnvironments[k].StepLet = s.Let
			}
		}
	}
	if v := raw["hostRequirements"]; v != nil {
		s.HostRequirements = c.hostRequirements(v, field(path, "hostRequirements"), sc.job)
	}
	host := sc.host
	if v := raw["parameterSpace"]; v != nil {
		s.ParameterSpace = c.parameterSpace(v, field(path, "parameterSpace"), sc.job)
		if s.ParameterSpace != nil {
			for _, d := range s.ParameterSpace.TaskParameterDefinitions {
				host = host.withType("Task.Param."+d.Name, d.Type.exprType()).withType("Task.RawParam."+d.Name, strings.ReplaceAll(d.Type.exprType(), "path", "string"))
			}
		}
	}
	var simple []string
	for _, k := range simpleInterpreters {
		if raw[k] != nil {
			simple = append(simple, k)
		}
	}
	switch {
	case len(simple) > 0 && !c.ext.has(FeatureBundle1):
		c.errorf(field(path, simple[0]), "simple actions need the FEATURE_BUNDLE_1 extension")
	case len(simple) > 1:
		c.errorf(field(path, simple[1]), "a step may have only one simple action, it already has %s", simple[0])
	case len(simple) == 1 && raw["script"] != nil:
		c.errorf(field(path, simple[0]), "a step cannot have both script and a simple action")
	case len(simple) == 1:
		s.SimpleAction = c.simpleAction(raw[simple[0]], field(path, simple[0]), simple[0], scopes{host: host, job: sc.job})
	case raw["script"] == nil:
		c.errorf(field(path, "script"), "is required")
	default:
		s.Script = c.stepScript(raw["script"], field(path, "script"), scopes{host: host, job: sc.job})
	}
	return s
}

func (c *checker) stepScript(n *node, path string, sc scopes) *StepScript {
	raw, ok := c.object(n, path, "let", "actions", "embeddedFiles")
	if !ok || !c.require(raw, path, "actions") {
		return nil
	}
	host := sc.host
	for _, f := range fileNames(raw["embeddedFiles"]) {
		host = host.withType("Task.File."+f, "path")
	}
	s := &StepScript{}
	// The files' paths are known before the bindings are evaluated, so
	// that bindings can use them.
	s.Let, host = c.lets(raw["let"], field(path, "let"), host)
	sc.host = host
	ap := field(path, "actions")
	if acts, ok := c.object(raw["actions"], ap, "onRun"); ok && c.require(acts, ap, "onRun") {
		if a := c.action(acts["onRun"], field(ap, "onRun"), sc); a != nil {
			s.OnRun = *a
		}
	}
	if v := raw["embeddedFiles"]; v != nil {
		s.EmbeddedFiles = c.embeddedFiles(v, field(path, "embeddedFiles"), host)
	}
	return s
}

func (c *checker) simpleAction(n *node, path, interp string, sc scopes) *SimpleAction {
	raw, ok := c.object(n, path, "let", "script", "args", "timeout", "cancelation")
	if !ok || !c.require(raw, path, "script") {
		return nil
	}
	a := &SimpleAction{Interpreter: interp}
	a.Let, sc.host = c.lets(raw["let"], field(path, "let"), sc.host)
	if f, ok := c.format(raw["script"], field(path, "script"), sc.host); ok {
		a.Script = f
	}
	a.Args = c.args(raw["args"], field(path, "args"), sc.host)
	c.actionCommon(raw, path, sc, &a.Timeout, &a.Cancelation)
	return a
}

// dependencies checks that every dependency names another step, and that
// the dependency graph has no cycle.
func (c *checker) dependencies(steps []Step, path string) {
	pos := make(map[string]int, len(steps))
	for i, s := range steps {
		pos[s.Name] = i
	}
	for i, s := range steps {
		for j, d := range s.Dependencies {
			p := field(index(field(index(path, i), "dependencies"), j), "dependsOn")
			switch _, ok := pos[d]; {
			case !ok:
				c.errorf(p, "there is no step named %q", d)
			case d == s.Name:
				c.errorf(p, "a step cannot depend on itself")
			case slices.Index(s.Dependencies, d) < j:
				c.errorf(p, "dependency on %q is given twice", d)
			}
		}
	}
	// Depth-first search; state 1 is "on the current path".
	state := make([]int, len(steps))
	var visit func(i int) bool
	visit = func(i int) bool {
		state[i] = 1
		for _, d := range steps[i].Dependencies {
			j, ok := pos[d]
			if !ok || j == i {
				continue
			}
			if state[j] == 1 || state[j] == 0 && visit(j) {
				return true
			}
		}
		state[i] = 2
		return false
	}
	for i := range steps {
		if state[i] == 0 && visit(i) {
			c.errorf(field(index(path, i), "dependencies"), "the dependencies of step %q lead to a cycle", steps[i].Name)
			return
		}
	}
}

// nameAndDescription checks the required name (at most maxName long) and
// the optional description of a step or environment.
func (c *checker) nameAndDescription(raw map[string]*node, path string, maxName int) (name, desc string) {
	if c.require(raw, path, "name") {
		if s, ok := c.str(raw["name"], field(path, "name")); ok {
			c.checkName(s, field(path, "name"), maxName)
			name = s
		}
	}
	if v := raw["description"]; v != nil {
		if s, ok := c.str(v, field(path, "description")); ok {
			c.checkDescription(s, field(path, "description"))
			desc = s
		}
	}
	return name, desc
}
