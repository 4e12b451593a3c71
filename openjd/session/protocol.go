package session

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Redacted replaces a redacted value in the session's output.
const Redacted = "********"

// message is one line of the stdout protocol.
type message struct {
	kind  string // progress, status, fail, env, unset_env, redacted_env
	value string // what follows "openjd_<kind>: "
}

var messageKinds = []string{"progress", "status", "fail", "env", "unset_env", "redacted_env"}

// parseMessage recognises a protocol line; ok is false for ordinary output.
func parseMessage(line string) (message, bool) {
	rest, ok := strings.CutPrefix(line, "openjd_")
	if !ok {
		return message{}, false
	}
	for _, k := range messageKinds {
		if v, ok := strings.CutPrefix(rest, k+": "); ok {
			return message{kind: k, value: v}, true
		}
	}
	return message{}, false
}

// looksLikeEnvMessage reports a line that was meant as openjd_env or
// openjd_unset_env but is malformed (leading spaces, case, no space after
// the colon).
func looksLikeEnvMessage(line string) bool {
	l := strings.ToLower(strings.TrimLeft(line, " \t"))
	return strings.HasPrefix(l, "openjd_env") || strings.HasPrefix(l, "openjd_unset_env") ||
		strings.HasPrefix(l, "openjd_redacted_env")
}

var (
	errBadAssignment = errors.New("expected NAME=value or a JSON string \"NAME=value\"")
	errBadName       = errors.New("expected a variable name: latin letters, digits and '_', not starting with a digit")
	errBadProgress   = errors.New("progress must be a number from 0 to 100")
)

// parseAssignment reads the NAME=value of openjd_env and
// openjd_redacted_env, in plain or JSON-quoted form.
func parseAssignment(s string) (name, value string, err error) {
	s = strings.TrimLeft(s, " ")
	if strings.HasPrefix(s, `"`) {
		var u string
		if json.Unmarshal([]byte(s), &u) != nil {
			return "", "", errBadAssignment
		}
		s = u
	}
	name, value, ok := strings.Cut(s, "=")
	if !ok || !isVarName(name) {
		return "", "", errBadAssignment
	}
	return name, value, nil
}

func parseUnset(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !isVarName(s) {
		return "", errBadName
	}
	return s, nil
}

func parseProgress(s string) (float64, error) {
	p, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || p < 0 || p > 100 {
		return 0, errBadProgress
	}
	return p, nil
}

func isVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_'
		if !letter && !(i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// redactor replaces secret values in output lines. It only grows: a value
// once redacted stays redacted for the rest of the session.
type redactor struct {
	mu      sync.RWMutex
	secrets []string // longest first
}

func (r *redactor) add(v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// A multi-line value is also redacted line by line, since output is
	// read one line at a time.
	for _, s := range append(strings.Split(v, "\n"), v) {
		s = strings.TrimSuffix(s, "\r")
		if s == "" || slices.Contains(r.secrets, s) {
			continue
		}
		i := 0
		for i < len(r.secrets) && len(r.secrets[i]) >= len(s) {
			i++
		}
		r.secrets = slices.Insert(r.secrets, i, s)
	}
}

func (r *redactor) apply(line string) string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, s := range r.secrets {
		if strings.Contains(line, s) {
			line = strings.ReplaceAll(line, s, Redacted)
		}
	}
	return line
}
