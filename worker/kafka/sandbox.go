package kafka

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-run/berth/job"
	units "github.com/docker/go-units"
	"go.yaml.in/yaml/v3"
)

// Defaults of a sandbox's settings.
const (
	ScriptFileDefault = "main.csx"
	MountPointDefault = "/tmp/script"
	NetworkDefault    = "none"
	MemoryDefault     = 1 << 30 // bytes
	CPUsDefault       = 0.5
	PidsDefault       = 100
	// The original's further settings (its memory-reservation-mb,
	// cpu-shares and blkio-weight).
	MemoryReservationDefault = 256 << 20 // bytes
	CPUSharesDefault         = 512
	BlkioWeightDefault       = 400
	TimeLimitDefault         = 120 * time.Second
	StopGraceDefault         = time.Second
	MaxConcurrentDefault     = 4
	OutputLimitDefault       = 1 << 20 // bytes per stream
	PullDefault              = "missing"
)

// ConfigFilesDefault maps the jobConfig fields written beside the script to
// their file names, when a sandbox does not say.
func ConfigFilesDefault() map[string]string {
	return map[string]string{"nugetConfigXml": "NuGet.Config"}
}

// Sandbox is one sandbox, resolved: how a job's script runs. LoadSandbox
// reads one from a file and fills in the defaults.
type Sandbox struct {
	// Name is the sandbox's name: the worker consumes pending-<Name> in
	// group workers.<Name>.
	Name string
	// Image is the container image.
	Image string
	// ScriptFile is the script's file name in the job directory.
	ScriptFile string
	// Command is the container's argv, run without a shell; it replaces
	// the image's entrypoint and command. Empty runs the image's own.
	Command []string
	// MountPoint is where the job directory (script and config files) is
	// mounted, read-only.
	MountPoint string
	// ConfigFiles maps jobConfig fields to the files written beside the
	// script.
	ConfigFiles map[string]string
	// WorkDir is the container's working directory; empty keeps the
	// image's.
	WorkDir string
	// Env is added to the image's environment.
	Env map[string]string
	// Network is the container's network mode ("none", "bridge", a
	// network's name).
	Network string
	// Memory (bytes), CPUs and Pids are the resource limits;
	// MemoryReservation (bytes, the soft limit), CPUShares (relative CPU
	// weight) and BlkioWeight (relative block I/O weight, 10 to 1000) the
	// original's further settings. 0 is none. Config.NoResourceLimits
	// switches all six off.
	Memory            int64
	CPUs              float64
	Pids              int64
	MemoryReservation int64
	CPUShares         int64
	BlkioWeight       int64
	// NoNewPrivileges sets the no-new-privileges security option.
	NoNewPrivileges bool
	// TimeLimit is how long a script may run before it is stopped.
	TimeLimit time.Duration
	// StopGrace is the time between SIGTERM and SIGKILL when a script is
	// stopped.
	StopGrace time.Duration
	// MaxConcurrent bounds the containers run at once.
	MaxConcurrent int
	// OutputLimit caps each of stdout and stderr, in bytes.
	OutputLimit int64
	// Pull is the image pull policy: never, missing or always.
	Pull string
	// Extensions are further docker executor settings (see
	// docs/docker.md), as key=value.
	Extensions map[string]string
}

// fileFormat is the config file: sandboxes by name.
type fileFormat struct {
	Sandboxes map[string]*fileSandbox `yaml:"sandboxes"`
}

// fileSandbox is a sandbox as written: scalars as text, parsed and
// checked by resolve, which names the field of any error.
type fileSandbox struct {
	Image           string            `yaml:"image"`
	ScriptFile      string            `yaml:"scriptFile"`
	Command         yaml.Node         `yaml:"command"`
	MountPoint      string            `yaml:"mountPoint"`
	ConfigFiles     map[string]string `yaml:"configFiles"`
	WorkDir         string            `yaml:"workDir"`
	Env             map[string]string `yaml:"env"`
	Network         string            `yaml:"network"`
	Limits          fileLimits        `yaml:"limits"`
	NoNewPrivileges *bool             `yaml:"noNewPrivileges"`
	TimeLimit       string            `yaml:"timeLimit"`
	StopGrace       string            `yaml:"stopGrace"`
	MaxConcurrent   string            `yaml:"maxConcurrent"`
	OutputLimit     string            `yaml:"outputLimit"`
	Pull            string            `yaml:"pull"`
	Extensions      map[string]string `yaml:"extensions"`
}

type fileLimits struct {
	Memory            string `yaml:"memory"`
	CPUs              string `yaml:"cpus"`
	Pids              string `yaml:"pids"`
	MemoryReservation string `yaml:"memoryReservation"`
	CPUShares         string `yaml:"cpuShares"`
	BlkioWeight       string `yaml:"blkioWeight"`
}

// managedExtensions are docker executor settings the sandbox sets through
// its own fields.
var managedExtensions = map[string]string{
	"entrypoint":         "command",
	"net":                "network",
	"memory":             "limits.memory",
	"cpus":               "limits.cpus",
	"pids":               "limits.pids",
	"memory-reservation": "limits.memoryReservation",
	"cpu-shares":         "limits.cpuShares",
	"blkio-weight":       "limits.blkioWeight",
	"pull":               "pull",
	"rm":                 "", // the worker removes its containers itself
	"restart":            "", // a script runs once
	"security-opt":       "noNewPrivileges",
}

var sandboxName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,200}$`)

// LoadSandbox reads the config file at path (YAML; JSON, being YAML, too)
// and returns the sandbox called name with the defaults filled in. With an
// empty name, a file of one sandbox gives that one. Unknown keys and bad
// values are errors that name the key.
func LoadSandbox(path, name string) (*Sandbox, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sandbox config: %w", err)
	}
	s, err := ParseSandbox(data, name)
	if err != nil {
		return nil, fmt.Errorf("sandbox config %s: %w", path, err)
	}
	return s, nil
}

// ParseSandbox is LoadSandbox on the file's content.
func ParseSandbox(data []byte, name string) (*Sandbox, error) {
	var f fileFormat
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	if len(f.Sandboxes) == 0 {
		return nil, errors.New("sandboxes: none defined")
	}
	if name == "" {
		if len(f.Sandboxes) > 1 {
			return nil, fmt.Errorf("several sandboxes (%s): name one", strings.Join(slices.Sorted(maps.Keys(f.Sandboxes)), ", "))
		}
		for n := range f.Sandboxes {
			name = n
		}
	}
	fs, ok := f.Sandboxes[name]
	if !ok {
		return nil, fmt.Errorf("no sandbox %q (defined: %s)", name, strings.Join(slices.Sorted(maps.Keys(f.Sandboxes)), ", "))
	}
	if fs == nil {
		fs = &fileSandbox{}
	}
	return fs.resolve(name)
}

// resolve checks fs and fills in the defaults.
func (fs *fileSandbox) resolve(name string) (*Sandbox, error) {
	s := &Sandbox{
		Name: name, Image: fs.Image, ScriptFile: cmp.Or(fs.ScriptFile, ScriptFileDefault),
		MountPoint: cmp.Or(fs.MountPoint, MountPointDefault), WorkDir: fs.WorkDir,
		Env: fs.Env, Network: cmp.Or(fs.Network, NetworkDefault),
		NoNewPrivileges: fs.NoNewPrivileges == nil || *fs.NoNewPrivileges,
		Pull:            cmp.Or(fs.Pull, PullDefault), Extensions: fs.Extensions,
		ConfigFiles: fs.ConfigFiles,
	}
	if s.ConfigFiles == nil {
		s.ConfigFiles = ConfigFilesDefault()
	}
	field := func(f string, err error) error {
		return fmt.Errorf("sandboxes.%s.%s: %w", name, f, err)
	}
	var err error
	if s.Command, err = parseCommand(&fs.Command); err != nil {
		return nil, field("command", err)
	}
	if s.Memory, err = parseSize(fs.Limits.Memory, MemoryDefault, true); err != nil {
		return nil, field("limits.memory", err)
	}
	if s.OutputLimit, err = parseSize(fs.OutputLimit, OutputLimitDefault, false); err != nil {
		return nil, field("outputLimit", err)
	}
	if s.CPUs, err = parseNumber(fs.Limits.CPUs, CPUsDefault); err != nil {
		return nil, field("limits.cpus", err)
	}
	var n float64
	if n, err = parseNumber(fs.Limits.Pids, PidsDefault); err != nil || n != float64(int64(n)) {
		return nil, field("limits.pids", cmp.Or(err, fmt.Errorf("want a whole number, not %q", fs.Limits.Pids)))
	}
	s.Pids = int64(n)
	defReservation := int64(MemoryReservationDefault)
	if s.Memory > 0 {
		defReservation = min(defReservation, s.Memory) // the engine wants it no more than memory
	}
	if s.MemoryReservation, err = parseSize(fs.Limits.MemoryReservation, defReservation, true); err != nil {
		return nil, field("limits.memoryReservation", err)
	}
	if n, err = parseNumber(fs.Limits.CPUShares, CPUSharesDefault); err != nil || n != float64(int64(n)) || n == 1 || n > 262144 {
		return nil, field("limits.cpuShares", cmp.Or(err, fmt.Errorf("want 0 or a whole number from 2 to 262144, not %q", fs.Limits.CPUShares)))
	}
	s.CPUShares = int64(n)
	if n, err = parseNumber(fs.Limits.BlkioWeight, BlkioWeightDefault); err != nil || n != float64(int64(n)) || (n != 0 && (n < 10 || n > 1000)) {
		return nil, field("limits.blkioWeight", cmp.Or(err, fmt.Errorf("want 0 or a whole number from 10 to 1000, not %q", fs.Limits.BlkioWeight)))
	}
	s.BlkioWeight = int64(n)
	if n, err = parseNumber(fs.MaxConcurrent, MaxConcurrentDefault); err != nil || n < 1 || n != float64(int(n)) {
		return nil, field("maxConcurrent", cmp.Or(err, fmt.Errorf("want a whole number of at least 1, not %q", fs.MaxConcurrent)))
	}
	s.MaxConcurrent = int(n)
	if s.TimeLimit, err = parseDuration(fs.TimeLimit, TimeLimitDefault, false); err != nil {
		return nil, field("timeLimit", err)
	}
	if s.StopGrace, err = parseDuration(fs.StopGrace, StopGraceDefault, true); err != nil {
		return nil, field("stopGrace", err)
	}
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("sandboxes.%s.%w", name, err)
	}
	return s, nil
}

// validate checks a resolved sandbox; errors begin with the field's name.
func (s *Sandbox) validate() error {
	switch {
	case !sandboxName.MatchString(s.Name):
		return fmt.Errorf("name: %q: want letters, digits, '.', '_' or '-' (it names Kafka topics)", s.Name)
	case strings.TrimSpace(s.Image) == "":
		return errors.New("image: missing")
	case !plainFileName(s.ScriptFile):
		return fmt.Errorf("scriptFile: %q is not a plain file name", s.ScriptFile)
	case !path.IsAbs(s.MountPoint) || path.Clean(s.MountPoint) != s.MountPoint || s.MountPoint == "/":
		return fmt.Errorf("mountPoint: %q: want a clean absolute path other than /", s.MountPoint)
	case strings.ContainsAny(s.MountPoint, ":,"):
		return fmt.Errorf("mountPoint: %q: may not hold ':' or ','", s.MountPoint)
	case s.WorkDir != "" && !path.IsAbs(s.WorkDir):
		return fmt.Errorf("workDir: %q is not absolute", s.WorkDir)
	case strings.TrimSpace(s.Network) == "":
		return errors.New("network: blank")
	case s.Memory < 0 || s.CPUs < 0 || s.Pids < 0 || s.MemoryReservation < 0 || s.CPUShares < 0 || s.BlkioWeight < 0:
		return errors.New("limits: negative")
	case s.Memory > 0 && s.MemoryReservation > s.Memory:
		// The engine refuses a reservation above the limit.
		return fmt.Errorf("limits.memoryReservation: %s is more than limits.memory %s",
			units.BytesSize(float64(s.MemoryReservation)), units.BytesSize(float64(s.Memory)))
	case s.TimeLimit <= 0:
		return errors.New("timeLimit: not positive")
	case s.StopGrace < 0:
		return errors.New("stopGrace: negative")
	case s.MaxConcurrent < 1:
		return errors.New("maxConcurrent: less than 1")
	case s.OutputLimit < 1:
		return errors.New("outputLimit: less than 1 byte")
	case s.Pull != "never" && s.Pull != "missing" && s.Pull != "always":
		return fmt.Errorf("pull: want never, missing or always, not %q", s.Pull)
	}
	seen := map[string]string{s.ScriptFile: "scriptFile"}
	for _, k := range slices.Sorted(maps.Keys(s.ConfigFiles)) {
		f := s.ConfigFiles[k]
		if k == "" {
			return errors.New("configFiles: empty jobConfig field name")
		}
		if !plainFileName(f) {
			return fmt.Errorf("configFiles.%s: %q is not a plain file name", k, f)
		}
		if other, ok := seen[f]; ok {
			return fmt.Errorf("configFiles.%s: file %q is also %s", k, f, other)
		}
		seen[f] = "configFiles." + k
	}
	for k := range s.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("env: bad variable name %q", k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Extensions)) {
		if use, ok := managedExtensions[k]; ok {
			if use == "" {
				return fmt.Errorf("extensions.%s: not allowed in a sandbox", k)
			}
			return fmt.Errorf("extensions.%s: set %s instead", k, use)
		}
		if err := job.ValidateContainerExtension(k, s.Extensions[k]); err != nil {
			return fmt.Errorf("extensions.%s: %w", k, err)
		}
	}
	return nil
}

func plainFileName(f string) bool {
	return f != "" && f != "." && f != ".." && !strings.ContainsAny(f, "/\x00")
}

// parseCommand takes a list of strings, or a string split at white space
// (no shell: quotes and backslashes are refused, use the list form).
func parseCommand(n *yaml.Node) ([]string, error) {
	switch n.Kind {
	case 0:
		return nil, nil
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, nil
		}
		if strings.ContainsAny(n.Value, `"'\`) {
			return nil, errors.New("quotes and backslashes are not interpreted (there is no shell): write the command as a list")
		}
		argv := strings.Fields(n.Value)
		if len(argv) == 0 {
			return nil, errors.New("blank")
		}
		return argv, nil
	case yaml.SequenceNode:
		var argv []string
		if err := n.Decode(&argv); err != nil {
			return nil, fmt.Errorf("want a list of strings: %w", err)
		}
		if len(argv) == 0 || argv[0] == "" {
			return nil, errors.New("empty program")
		}
		return argv, nil
	}
	return nil, errors.New("want a string or a list of strings")
}

// parseSize parses a size in bytes like 512m, 1GiB or 1048576; zeroOK
// allows 0 (no limit).
func parseSize(v string, def int64, zeroOK bool) (int64, error) {
	if v == "" {
		return def, nil
	}
	n, err := units.RAMInBytes(v)
	if err != nil || n < 0 || (n == 0 && !zeroOK) {
		return 0, fmt.Errorf("want a size like 512m or 1GiB, not %q", v)
	}
	return n, nil
}

func parseNumber(v string, def float64) (float64, error) {
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0, fmt.Errorf("want a number of at least 0, not %q", v)
	}
	return f, nil
}

func parseDuration(v string, def time.Duration, zeroOK bool) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || (d == 0 && !zeroOK) {
		return 0, fmt.Errorf("want a duration like 120s or 2m, not %q", v)
	}
	return d, nil
}
