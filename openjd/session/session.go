package session

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-run/berth/openjd"
)

// Config configures a Session.
type Config struct {
	// ID names the session in its working directory's name and its log.
	// Defaults to a random identifier.
	ID string
	// Parameters are the job's parameter values (Param.* and RawParam.*);
	// see openjd.Job.
	Parameters []openjd.ParameterValue
	// JobName is the job's resolved name, Job.Name in expressions (EXPR).
	JobName string
	// PathMappingRules map PATH parameter values to this host. Defaults to
	// none.
	PathMappingRules []PathMappingRule
	// Root is the directory the session's working directory is created
	// in. Defaults to os.TempDir().
	Root string
	// Preserve keeps the working directory when the session is closed.
	// Defaults to false: Close removes it.
	Preserve bool
	// Env is the environment every action starts from, as KEY=value
	// strings. Defaults to os.Environ(), or to none with a Runner, whose
	// commands get the environment of where they run beneath it (a
	// container's).
	Env []string
	// Runner starts the actions' commands. Defaults to running them as
	// subprocesses of this process, each in a process group of its own.
	Runner Runner
	// Log receives every line the session logs, already redacted: its own
	// banners and messages, and the output of the actions. Calls are
	// serialized. Defaults to discarding the lines.
	Log func(Line)
	// OnUpdate receives the progress, status and failure messages of the
	// running action. Calls are serialized. Defaults to none.
	OnUpdate func(Update)
	// Verbose also logs each action's full command line.
	Verbose bool
	// OutputGrace is how long output is still read after an action's
	// process has exited, while processes it left behind hold the output
	// open. Defaults to OutputGraceDefault.
	OutputGrace time.Duration
}

// OutputGraceDefault is the default of Config.OutputGrace.
const OutputGraceDefault = time.Second

// Line is one line of a session's log.
type Line struct {
	Time time.Time
	// Output is true for a line an action printed, false for the
	// session's own messages.
	Output bool
	Text   string
}

// Update reports a protocol message of the running action.
type Update struct {
	// Progress is set by openjd_progress, in percent.
	Progress *float64
	// Status is set by openjd_status.
	Status string
	// Fail is set by openjd_fail.
	Fail string
}

// State is how an action ended.
type State string

// Action states.
const (
	Succeeded State = "SUCCEEDED"
	Failed    State = "FAILED"
	TimedOut  State = "TIMEOUT"
	Canceled  State = "CANCELED"
)

// Result is how an action ended.
type Result struct {
	State State
	// ExitCode is the command's exit status; -1 if it did not start or
	// was ended by a signal.
	ExitCode int
	// Signal names the signal that ended the command, if one did.
	Signal string
	// Message says why the action failed: the last openjd_fail message, or
	// the runtime's reason (the command could not start, a timeout, ...).
	Message string
	// Progress and Status are the last reported by the action.
	Progress float64
	Status   string
	Duration time.Duration
}

// OK reports whether the action succeeded.
func (r Result) OK() bool { return r.State == Succeeded }

// ErrEnded is returned when an environment is entered or a task run after
// an action of the session failed or was canceled: from then on the
// session only exits its environments.
var ErrEnded = errors.New("session: an action failed or was canceled; the session can only exit its environments")

// ErrClosed is returned when a closed session is used.
var ErrClosed = errors.New("session: closed")

// Session is a running OpenJD session. Its methods run one action at a
// time and must not be called concurrently, except Cancel.
type Session struct {
	cfg      Config
	id       string
	dir      string
	filesDir string
	pmFile   string
	mapper   *pathMapper
	base     openjd.MapScope // Param.*, RawParam.*, Session.*
	redact   redactor

	envs []*activeEnv // entered, or attempted, innermost last
	// loose are openjd_env assignments of actions other than an onEnter
	// (tasks, onExit), in order: they set nothing, but wrap hooks see
	// them in WrappedAction.Environment (RFC 0008). Guarded by mu.
	loose  [][2]string
	ended  atomic.Bool // a failure or cancel happened
	closed bool

	mu      sync.Mutex // guards running, drains and loose
	running *actionRun
	drains  []io.ReadCloser // outputs still held open by background processes
	logMu   sync.Mutex
}

// activeEnv is an environment of the session's stack.
type activeEnv struct {
	env      *openjd.Environment
	redacted bool              // REDACTED_ENV_VARS enabled where it is defined
	vars     [][2]string       // its variables, resolved, in order
	sets     [][2]string       // openjd_env assignments of its onEnter, in order
	unsets   map[string]bool   // openjd_unset_env of its onEnter
	files    map[string]string // Env.File.<name> -> path
}

// New creates a session: its working directory and its path mapping file.
func New(cfg Config) (*Session, error) {
	if cfg.ID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		cfg.ID = hex.EncodeToString(b[:])
	}
	if cfg.Root == "" {
		cfg.Root = os.TempDir()
	}
	if cfg.Env == nil && cfg.Runner == nil {
		cfg.Env = os.Environ()
	}
	if cfg.Runner == nil {
		cfg.Runner = localRunner{}
	}
	if cfg.OutputGrace <= 0 {
		cfg.OutputGrace = OutputGraceDefault
	}
	for i, r := range cfg.PathMappingRules {
		if err := r.validate(); err != nil {
			return nil, fmt.Errorf("session: path mapping rule %d: %w", i, err)
		}
	}
	dir, err := os.MkdirTemp(cfg.Root, "berth-openjd-"+safeName(cfg.ID)+"-")
	if err != nil {
		return nil, fmt.Errorf("session: creating the working directory: %w", err)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	s := &Session{cfg: cfg, id: cfg.ID, dir: dir, filesDir: filepath.Join(dir, "embedded_files"),
		mapper: newPathMapper(cfg.PathMappingRules)}
	if err := os.Mkdir(s.filesDir, 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("session: %w", err)
	}
	s.pmFile = filepath.Join(dir, "path_mapping.json")
	rules := cfg.PathMappingRules
	if rules == nil {
		rules = []PathMappingRule{}
	}
	doc, _ := json.MarshalIndent(PathMappingRules{Version: PathMappingVersion, Rules: rules}, "", "  ")
	if err := os.WriteFile(s.pmFile, doc, 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("session: writing the path mapping rules: %w", err)
	}
	s.base = openjd.MapScope{
		"Session.WorkingDirectory":     dir,
		"Session.HasPathMappingRules":  fmt.Sprint(len(cfg.PathMappingRules) > 0),
		"Session.PathMappingRulesFile": s.pmFile,
	}
	if cfg.JobName != "" {
		s.base["Job.Name"] = cfg.JobName
	}
	for _, p := range cfg.Parameters {
		s.base["Param."+p.Name] = p.MappedValue(s.mapper.Map)
		s.base["RawParam."+p.Name] = p.Value
	}
	s.logf("Initializing Open Job Description session %s", s.id)
	s.logf("Session working directory: %s", s.dir)
	s.logf("Session's embedded files directory: %s", s.filesDir)
	return s, nil
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// ID returns the session's identifier.
func (s *Session) ID() string { return s.id }

// WorkingDirectory returns the session's working directory.
func (s *Session) WorkingDirectory() string { return s.dir }

// Environments returns the number of environments entered (or whose
// enter was attempted) and not yet exited.
func (s *Session) Environments() int { return len(s.envs) }

// EnvironmentNames returns the names of the environments on the session's
// stack, outermost first.
func (s *Session) EnvironmentNames() []string {
	names := make([]string, len(s.envs))
	for i, e := range s.envs {
		names[i] = e.env.Name
	}
	return names
}

// Logf writes a line to the session's log, redacted like all of it.
func (s *Session) Logf(format string, args ...any) { s.logf(format, args...) }

// Ended reports whether an action failed or was canceled, after which the
// session only exits environments.
func (s *Session) Ended() bool { return s.ended.Load() }

// MapPath applies the session's path mapping rules to a path.
func (s *Session) MapPath(p string) string { return s.mapper.Map(p) }

// Cancel cancels the running action, if any, with its cancelation method,
// and ends the session: later environments and tasks are refused. It may
// be called from any goroutine.
func (s *Session) Cancel() {
	s.mu.Lock()
	r := s.running
	s.mu.Unlock()
	if r != nil {
		r.cancel(cancelRequested)
	}
}

// Close removes the working directory, unless Config.Preserve. Exit the
// environments first.
func (s *Session) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.mu.Lock()
	for _, r := range s.drains {
		r.Close()
	}
	s.drains = nil
	s.mu.Unlock()
	if s.cfg.Preserve {
		s.logf("Working directory preserved at: %s", s.dir)
		return nil
	}
	s.logf("Deleting working directory: %s", s.dir)
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("session: removing the working directory: %w", err)
	}
	return nil
}

// log sends one line, redacted, to Config.Log.
func (s *Session) log(output bool, text string) {
	if s.cfg.Log == nil {
		return
	}
	text = s.redact.apply(text)
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.cfg.Log(Line{Time: time.Now(), Output: output, Text: text})
}

func (s *Session) logf(format string, args ...any) { s.log(false, fmt.Sprintf(format, args...)) }

// section logs a banner opening a part of the session.
func (s *Session) section(title string) {
	s.logf("")
	s.logf("==============================================")
	s.logf("--------- %s", title)
	s.logf("==============================================")
}

func (s *Session) phase(title string) {
	s.logf("----------------------------------------------")
	s.logf("%s", title)
	s.logf("----------------------------------------------")
}

func (s *Session) update(u Update) {
	if s.cfg.OnUpdate == nil {
		return
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.cfg.OnUpdate(u)
}

// usable returns why the session cannot start a new environment or task.
func (s *Session) usable() error {
	switch {
	case s.closed:
		return ErrClosed
	case s.ended.Load():
		return ErrEnded
	}
	return nil
}

// scope returns a copy of the session's base scope to add action-level
// values to.
func (s *Session) scope() openjd.MapScope {
	m := make(openjd.MapScope, len(s.base)+8)
	for k, v := range s.base {
		m[k] = v
	}
	return m
}

// bind evaluates let bindings (EXPR) over scope and returns the scope
// actions see, where apply_path_mapping uses the session's rules.
func (s *Session) bind(scope openjd.Scope, groups ...[]openjd.Let) (openjd.Scope, error) {
	return openjd.BindLets(openjd.Values{Base: scope, MapPath: s.mapper.Map}, groups...)
}

// SessionDirVar is the variable that holds the session's working
// directory in every action's environment, for programs that cannot read
// Session.WorkingDirectory from the template.
const SessionDirVar = "OPENJD_SESSION_WORKING_DIR"

// environ returns the environment of an action run with the session's
// current environments: the base environment and SessionDirVar, then each
// environment's variables and openjd_env assignments, innermost last, its
// unsets winning over its own assignments.
func (s *Session) environ() []string {
	base := append(slices.Clip(s.cfg.Env), SessionDirVar+"="+s.dir)
	return s.mergeVars(base, nil)
}

// mergeVars returns base (KEY=value strings) with the environments'
// variables applied, as environ describes, then the assignments of extra.
func (s *Session) mergeVars(base []string, extra [][2]string) []string {
	vals := map[string]string{}
	listed := map[string]bool{} // in order, even if unset since
	var order []string
	set := func(k, v string) {
		if !listed[k] {
			listed[k] = true
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, kv := range base {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	for _, e := range s.envs {
		for _, kv := range e.vars {
			set(kv[0], kv[1])
		}
		for _, kv := range e.sets {
			set(kv[0], kv[1])
		}
		for k := range e.unsets {
			delete(vals, k)
		}
	}
	for _, kv := range extra {
		set(kv[0], kv[1])
	}
	out := make([]string, 0, len(vals))
	for _, k := range order {
		if v, ok := vals[k]; ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}
