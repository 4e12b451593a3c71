// Package display renders berth's values for people, the same way in every
// command.
package display

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/berth-run/berth/job"
)

// TaskCounts renders an array job's progress: "3/10 done", "3/10 done, 2
// failed". A plain job renders as "".
func TaskCounts(j *job.Job) string {
	if !j.IsArray() && !j.HasSteps() {
		return ""
	}
	s := fmt.Sprintf("%d/%d done", j.Tasks[job.Done], j.TaskCount)
	if n := j.Tasks[job.Failed]; n > 0 {
		s += fmt.Sprintf(", %d failed", n)
	}
	return s
}

// ExitCode renders a task's exit code, "" if it has none.
func ExitCode(code *int) string {
	if code == nil {
		return ""
	}
	return strconv.Itoa(*code)
}

// CommandLine renders a command and its arguments as a shell would read
// them back.
func CommandLine(t *job.Template) string {
	parts := []string{Quote(t.Command)}
	for _, a := range t.Args {
		parts = append(parts, Quote(a))
	}
	return strings.Join(parts, " ")
}

// Quote quotes s for a POSIX shell if it needs it.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%{}", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Bytes renders a byte count: "12.3 MiB".
func Bytes(n int64) string {
	if n == 0 {
		return ""
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Bool renders a flag as "yes" or "no" on a terminal, "true" or "false"
// otherwise.
func Bool(tty, b bool) string {
	switch {
	case tty && b:
		return "yes"
	case tty:
		return "no"
	}
	return strconv.FormatBool(b)
}
