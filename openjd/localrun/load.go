package localrun

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/berth-run/berth/openjd"
	"github.com/berth-run/berth/openjd/session"
)

// Input is a job to load: the documents as read, and where they come from.
type Input struct {
	// Template is the job template (YAML or JSON).
	Template []byte
	// TemplateDir is the template's directory, for PATH defaults.
	TemplateDir string
	// Environments are environment templates, applied in order.
	Environments [][]byte
	// EnvironmentNames name the environment templates in errors (file
	// names); optional.
	EnvironmentNames []string
	// Parameters are the job parameter values.
	Parameters map[string]string
	// WorkingDir is what relative PATH values are joined with. Defaults
	// to the current directory.
	WorkingDir string
	// Extensions the run supports. Defaults to every extension berth
	// implements.
	Extensions []openjd.Extension
}

// Load parses and checks the templates and creates the job.
func Load(in Input) (*openjd.Job, error) {
	opts := openjd.Options{Extensions: in.Extensions}
	t, err := openjd.ParseJobTemplate(in.Template, opts)
	if err != nil {
		return nil, &LoadError{Input: InputTemplate, What: "job template", Err: err}
	}
	envs := make([]*openjd.EnvironmentTemplate, 0, len(in.Environments))
	for i, data := range in.Environments {
		e, err := openjd.ParseEnvironmentTemplate(data, opts)
		if err != nil {
			name := fmt.Sprintf("environment template %d", i+1)
			if i < len(in.EnvironmentNames) {
				name = "environment template " + in.EnvironmentNames[i]
			}
			return nil, &LoadError{Input: InputEnvironments, What: name, Err: err}
		}
		envs = append(envs, e)
	}
	job, err := openjd.CreateJob(t, openjd.JobInput{
		Parameters:   in.Parameters,
		Environments: envs,
		TemplateDir:  in.TemplateDir,
		WorkingDir:   in.WorkingDir,
	})
	if err != nil {
		return nil, &LoadError{Input: InputParameters, What: "creating the job", Err: err}
	}
	return job, nil
}

// LoadError is Load's error: the input at fault, and why.
type LoadError struct {
	// Input is InputTemplate, InputEnvironments or InputParameters.
	Input string
	// What names the document or the step in the message.
	What string
	Err  error
}

// The inputs of Load a LoadError blames.
const (
	InputTemplate     = "template"
	InputEnvironments = "environments"
	// InputParameters: the templates parsed, but the job could not be
	// made of them with the parameter values.
	InputParameters = "parameters"
)

func (e *LoadError) Error() string { return e.What + ": " + e.Err.Error() }
func (e *LoadError) Unwrap() error { return e.Err }

// TimestampFormat is how log lines are stamped.
type TimestampFormat string

// Timestamp formats of --timestamp-format.
const (
	TimestampRelative TimestampFormat = "relative" // time since the session start
	TimestampLocal    TimestampFormat = "local"    // local time, ISO 8601
	TimestampUTC      TimestampFormat = "utc"      // UTC, ISO 8601
)

// LogWriter formats log lines as "<timestamp>\t<text>" onto w. It is safe
// for concurrent use.
type LogWriter struct {
	w      io.Writer
	format TimestampFormat
	start  time.Time
	mu     sync.Mutex
	// Lines keeps every line written, when Keep is set.
	Lines []session.Line
	Keep  bool
	err   error
}

// NewLogWriter returns a LogWriter; relative timestamps count from start.
func NewLogWriter(w io.Writer, format TimestampFormat, start time.Time) *LogWriter {
	return &LogWriter{w: w, format: format, start: start}
}

// Log writes one line; pass it as Options.Log.
func (l *LogWriter) Log(line session.Line) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Keep {
		l.Lines = append(l.Lines, line)
	}
	if l.w == nil || l.err != nil {
		return
	}
	_, l.err = io.WriteString(l.w, l.Stamp(line.Time)+"\t"+line.Text+"\n")
}

// Err returns the first error writing to w.
func (l *LogWriter) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Stamp formats a time as the log's timestamps.
func (l *LogWriter) Stamp(t time.Time) string {
	switch l.format {
	case TimestampLocal:
		return t.Local().Format("2006-01-02T15:04:05.000000-07:00")
	case TimestampUTC:
		return t.UTC().Format("2006-01-02T15:04:05.000000+00:00")
	}
	d := t.Sub(l.start)
	if d < 0 {
		d = 0
	}
	h := d / time.Hour
	m := (d % time.Hour) / time.Minute
	s := (d % time.Minute) / time.Second
	us := (d % time.Second) / time.Microsecond
	return fmt.Sprintf("%d:%02d:%02d.%06d", h, m, s, us)
}

// ParseTimestampFormat checks a --timestamp-format value.
func ParseTimestampFormat(s string) (TimestampFormat, error) {
	switch f := TimestampFormat(strings.ToLower(s)); f {
	case TimestampRelative, TimestampLocal, TimestampUTC:
		return f, nil
	}
	return "", fmt.Errorf("timestamp format %q is not one of relative, local, utc", s)
}
