package job

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/distribution/reference"
)

// FieldError is a validation error that names the field at fault, as a path
// in the JSON form ("template.command", "array.step").
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Limits on what a spec may hold.
const (
	MaxNameLen   = 256
	MaxLabels    = 64
	MaxArgs      = 4096
	MaxAfter     = 1024
	MaxInputs    = 1_000_000
	MaxPriority  = 1_000_000
	MaxPoolLen   = 64
	MaxLabelLen  = 256
	MaxEnvLen    = 1024
	MaxArgBytes  = 1 << 20
	MaxExtLen    = 256
	maxNameChars = "letters, digits, '.', '_', '-' and '/'"
)

// The syntax of names, checked at submit (docs/api.md, "Names"):
//
//   - a pool name is 1 to MaxPoolLen letters, digits, '_' and '-', the first
//     a letter or digit: it is one token of the dispatcher's NATS subjects
//     and part of a JetStream consumer's name, where '.', '/', '*' and '>'
//     would mean something else;
//   - a label key (of a job's labels and constraints, and of a worker's
//     labels) is 1 to MaxLabelLen letters, digits, '_', '-', '.' and '/',
//     the first and last a letter or digit ("zone", "example.com/gpu").
const (
	poolChars     = "letters, digits, '_' and '-', starting with a letter or digit"
	labelKeyChars = "letters, digits, '_', '-', '.' and '/', starting and ending with a letter or digit"
)

// Validate checks a spec and returns a *FieldError naming the first field at
// fault. It fills nothing in: see WithDefaults.
func (s *Spec) Validate() error {
	if len(s.Name) > MaxNameLen {
		return fieldErr("name", "longer than %d bytes", MaxNameLen)
	}
	if strings.ContainsAny(s.Name, "\x00\n\r") {
		return fieldErr("name", "must not contain NUL or line breaks")
	}
	if s.OpenJD != nil {
		if err := s.OpenJD.validate(&s.Template); err != nil {
			return err
		}
	} else if err := s.Template.validate("template."); err != nil {
		return err
	}
	if s.Array != nil {
		if err := s.Array.Validate(); err != nil {
			return fieldErr("array", "%v", err)
		}
		if len(s.Inputs) > 0 {
			return fieldErr("inputs", "an array job takes either array or inputs, not both")
		}
	}
	if len(s.Inputs) > MaxInputs {
		return fieldErr("inputs", "more than %d inputs", MaxInputs)
	}
	for i, in := range s.Inputs {
		if strings.ContainsRune(in, 0) {
			return fieldErr(fmt.Sprintf("inputs[%d]", i), "must not contain NUL")
		}
	}
	if s.MaxParallel < 0 {
		return fieldErr("max_parallel", "must be 0 (no bound) or more")
	}
	if s.Priority < -MaxPriority || s.Priority > MaxPriority {
		return fieldErr("priority", "must be between %d and %d", -MaxPriority, MaxPriority)
	}
	if len(s.After) > MaxAfter {
		return fieldErr("after", "more than %d jobs", MaxAfter)
	}
	for i, id := range s.After {
		if id <= 0 {
			return fieldErr(fmt.Sprintf("after[%d]", i), "job ID %d is not positive", id)
		}
	}
	if err := validateLabels("labels", s.Labels); err != nil {
		return err
	}
	if err := validateLabels("constraints", s.Constraints); err != nil {
		return err
	}
	if len(s.SubmitDir) > 4096 || strings.ContainsRune(s.SubmitDir, 0) || (s.SubmitDir != "" && !strings.HasPrefix(s.SubmitDir, "/")) {
		return fieldErr("submit_dir", "must be an absolute path without NUL, at most 4096 bytes")
	}
	if s.Pool != "" {
		return CheckPool(s.Pool)
	}
	return nil
}

// CheckPool refuses a pool name out of the syntax of pool names (see
// above), with a *FieldError for "pool".
func CheckPool(pool string) error {
	ok := pool != "" && len(pool) <= MaxPoolLen && isAlnum(pool[0])
	for i := 0; ok && i < len(pool); i++ {
		c := pool[i]
		ok = isAlnum(c) || c == '_' || c == '-'
	}
	if !ok {
		return fieldErr("pool", "invalid pool %q: want 1 to %d %s", pool, MaxPoolLen, poolChars)
	}
	return nil
}

// CheckLabelKey refuses a label key out of the syntax of label keys (see
// above), with a *FieldError for field.
func CheckLabelKey(field, k string) error {
	ok := k != "" && len(k) <= MaxLabelLen && isAlnum(k[0]) && isAlnum(k[len(k)-1])
	for i := 0; ok && i < len(k); i++ {
		c := k[i]
		ok = isAlnum(c) || c == '_' || c == '-' || c == '.' || c == '/'
	}
	if !ok {
		return fieldErr(field, "invalid key %q: want 1 to %d %s", k, MaxLabelLen, labelKeyChars)
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// CheckImage refuses an image reference that the Docker engine would not
// take: a name ("busybox", "registry:5000/team/app:1.2", with a tag or
// digest) as github.com/distribution/reference parses it, or an image ID
// (64 hex digits, "sha256:" before them or not).
func CheckImage(field, image string) error {
	if id := strings.TrimPrefix(image, "sha256:"); len(id) == 64 && strings.Trim(id, "0123456789abcdef") == "" {
		return nil
	}
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		return fieldErr(field, "invalid image reference %q: %v", image, err)
	}
	return nil
}

// CheckWorkDir refuses a working directory that is not a clean absolute
// path: the server cannot resolve a relative one against where the client
// ran (berth run resolves it before submitting).
func CheckWorkDir(field, dir string) error {
	switch {
	case strings.ContainsRune(dir, 0):
		return fieldErr(field, "must not contain NUL")
	case len(dir) > maxPathLen:
		return fieldErr(field, "longer than %d bytes", maxPathLen)
	case !strings.HasPrefix(dir, "/"):
		return fieldErr(field, "%q is not an absolute path", dir)
	case slices.Contains(strings.Split(dir, "/"), ".."):
		return fieldErr(field, "%q must not contain '..'", dir)
	}
	return nil
}

func (t *Template) validate(p string) error {
	if t.Command == "" {
		return fieldErr(p+"command", "required")
	}
	if strings.ContainsRune(t.Command, 0) {
		return fieldErr(p+"command", "must not contain NUL")
	}
	if len(t.Args) > MaxArgs {
		return fieldErr(p+"args", "more than %d arguments", MaxArgs)
	}
	n := len(t.Command)
	for i, a := range t.Args {
		if strings.ContainsRune(a, 0) {
			return fieldErr(fmt.Sprintf("%sargs[%d]", p, i), "must not contain NUL")
		}
		n += len(a)
	}
	if n > MaxArgBytes {
		return fieldErr(p+"args", "command line longer than %d bytes", MaxArgBytes)
	}
	for k, v := range t.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || len(k) > MaxEnvLen {
			return fieldErr(p+"env", "invalid variable name %q", k)
		}
		if strings.ContainsRune(v, 0) {
			return fieldErr(p+"env."+k, "must not contain NUL")
		}
	}
	if t.WorkDir != "" {
		if err := CheckWorkDir(p+"workdir", t.WorkDir); err != nil {
			return err
		}
	}
	if t.TimeLimit < 0 {
		return fieldErr(p+"time_limit", "must not be negative")
	}
	if t.StopGrace < 0 {
		return fieldErr(p+"stop_grace", "must not be negative")
	}
	if t.MaxAttempts < 0 || t.MaxAttempts > 1000 {
		return fieldErr(p+"max_attempts", "must be between 0 (the default, %d) and 1000", MaxAttemptsDefault)
	}
	for _, f := range []struct {
		name string
		v    Duration
	}{{"retry_delay", t.RetryDelay}, {"retry_delay_max", t.RetryDelayMax}} {
		if f.v < 0 || f.v > MaxRetryDelay {
			return fieldErr(p+f.name, "must be between 0 (the default) and %s", MaxRetryDelay)
		}
	}
	if t.RetryDelayMax != 0 && t.RetryDelayMax < t.RetryDelay {
		return fieldErr(p+"retry_delay_max", "%s is less than retry_delay %s", t.RetryDelayMax, t.RetryDelay)
	}
	for _, f := range []struct{ name, v string }{{"output_path", t.OutputPath}, {"error_path", t.ErrorPath}} {
		if f.v != "" {
			if err := checkPath(p+f.name, f.v); err != nil {
				return err
			}
		}
	}
	if err := validateMounts(p+"stage_in", t.StageIn, false); err != nil {
		return err
	}
	if err := validateMounts(p+"stage_out", t.StageOut, true); err != nil {
		return err
	}
	for k, v := range t.Extensions {
		if k == "" || len(k) > MaxExtLen || !isName(k) {
			return fieldErr(p+"extensions", "invalid key %q", k)
		}
		if strings.ContainsRune(v, 0) {
			return fieldErr(p+"extensions."+k, "must not contain NUL")
		}
	}
	if t.Image == "" {
		if len(t.Extensions) > 0 {
			k := slices.Min(slices.Collect(maps.Keys(t.Extensions)))
			return fieldErr(p+"extensions."+k, "a process job (no image) takes no extensions; they are container settings")
		}
		return nil
	}
	if err := CheckImage(p+"image", t.Image); err != nil {
		return err
	}
	c, err := ParseContainerExtensions(t.Extensions, p)
	if err != nil {
		return err
	}
	if c.AutoRemove && len(t.StageOut) > 0 {
		return fieldErr(p+"stage_out", "cannot copy out of a container the engine removes as it exits (extensions.rm)")
	}
	return nil
}

// MaxMounts bounds each of StageIn and StageOut.
const MaxMounts = 64

// maxPathLen bounds the paths of a template.
const maxPathLen = 4096

// checkPath checks an absolute path of the template.
func checkPath(field, path string) error {
	switch {
	case path == "":
		return fieldErr(field, "required")
	case strings.ContainsRune(path, 0):
		return fieldErr(field, "must not contain NUL")
	case len(path) > maxPathLen:
		return fieldErr(field, "longer than %d bytes", maxPathLen)
	case !strings.HasPrefix(path, "/"):
		return fieldErr(field, "must be an absolute path")
	}
	return nil
}

// validateMounts checks stage_in (out false) or stage_out (out true): both
// paths absolute, no container path twice in stage_in (the root not at
// all), no host path twice in stage_out, no rw in stage_out.
func validateMounts(field string, ms []Mount, out bool) error {
	if len(ms) > MaxMounts {
		return fieldErr(field, "more than %d entries", MaxMounts)
	}
	seen := map[string]int{}
	for i, m := range ms {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := checkPath(f+".host", m.Host); err != nil {
			return err
		}
		if err := checkPath(f+".container", m.Container); err != nil {
			return err
		}
		if path.Clean(m.Container) == "/" {
			return fieldErr(f+".container", "must not be the root directory")
		}
		key, which := path.Clean(m.Container), ".container"
		if out {
			if m.RW {
				return fieldErr(f+".rw", "only stage_in mounts can be writable")
			}
			key, which = path.Clean(m.Host), ".host"
		}
		if j, dup := seen[key]; dup {
			return fieldErr(f+which, "%s is also in %s[%d]", key, field, j)
		}
		seen[key] = i
	}
	return nil
}

func isName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' || r == '/') {
			return false
		}
	}
	return s != ""
}

// WithDefaults returns a copy of s with defaults filled in.
func (s Spec) WithDefaults() Spec {
	if s.Pool == "" {
		s.Pool = PoolDefault
	}
	if s.Template.Rerunnable && s.Template.MaxAttempts == 0 {
		s.Template.MaxAttempts = MaxAttemptsDefault
	}
	if !s.Template.Rerunnable && s.Template.MaxAttempts == 0 {
		s.Template.MaxAttempts = 1
	}
	return s
}

// TaskIndexes calls yield with each task index of the spec, in order: 0 for
// a plain job, the range for an array, 1..len(Inputs) for inputs.
func (s *Spec) TaskIndexes(yield func(int) bool) {
	switch {
	case s.Array != nil:
		for i := s.Array.Begin; i <= s.Array.End; i += s.Array.Step {
			if !yield(i) {
				return
			}
		}
	case len(s.Inputs) > 0:
		for i := range s.Inputs {
			if !yield(i + 1) {
				return
			}
		}
	default:
		yield(0)
	}
}

// TaskCount returns the number of tasks the spec makes.
func (s *Spec) TaskCount() int {
	switch {
	case s.Array != nil:
		return s.Array.Len()
	case len(s.Inputs) > 0:
		return len(s.Inputs)
	}
	return 1
}

// ErrNotFound is returned (wrapped) when a job or task does not exist.
var ErrNotFound = errors.New("not found")

// ErrInvalidState is returned (wrapped) when an action does not apply to a
// job in its current state, such as releasing a job that is not held.
var ErrInvalidState = errors.New("not possible in the current state")

// validateLabels checks a map of labels (or of labels required of workers)
// named field.
func validateLabels(field string, m map[string]string) error {
	if len(m) > MaxLabels {
		return fieldErr(field, "more than %d entries", MaxLabels)
	}
	for k, v := range m {
		if err := CheckLabelKey(field, k); err != nil {
			return err
		}
		if len(v) > MaxLabelLen || strings.ContainsAny(v, "\x00\n\r") {
			return fieldErr(field+"."+k, "value longer than %d bytes or with NUL or line breaks", MaxLabelLen)
		}
	}
	return nil
}
