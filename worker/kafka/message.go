package kafka

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Job statuses of the finished message.
const (
	StatusAccepted = "ACCEPTED"
	StatusRejected = "REJECTED"
)

// How an accepted job's script ended (scriptResults.finishedWith).
const (
	FinishedSucceeded         = "SUCCEEDED"
	FinishedFailed            = "FAILED"
	FinishedTimeLimitExceeded = "TIME_LIMIT_EXCEEDED"
)

// MaxJobIDBytes bounds the jobId of a message; a longer one counts as
// missing.
const MaxJobIDBytes = 1024

// ErrMalformed is wrapped by ParseMessage's errors for messages that cannot
// be answered: not a JSON object, or no usable jobId. They are skipped.
var ErrMalformed = errors.New("malformed message")

// Message is one job of the pending topic: {"jobId": ..., "script": ...,
// "jobConfig": {"nugetConfigXml": ...}}.
type Message struct {
	// JobID identifies the job; every answer carries it, and is keyed by it.
	// A UUID is in the original's form, lower case; any other jobId is
	// kept as written and the job rejected.
	JobID string
	// Script is the script's text.
	Script string
	// JobConfig holds the string fields of jobConfig (nugetConfigXml, and
	// any other the sandbox maps to a file); fields that are null are left
	// out, fields of other types too.
	JobConfig map[string]string
	// Reject, when set, says why the job is answered REJECTED without
	// running: a jobId that is not a UUID, no script, or a jobConfig that
	// is not an object.
	Reject string
}

// ParseMessage parses a pending message's value. Unknown fields are
// ignored; field names match exactly (as Jackson does, unlike
// encoding/json's case-insensitive match). A value that is not a JSON
// object, or has no jobId (missing, null, not a string, blank, or longer
// than MaxJobIDBytes), gives an error wrapping ErrMalformed. A message with
// a jobId that is not a UUID, or no usable script (missing, null, not a
// string, or blank), parses, with Reject set.
func ParseMessage(value []byte) (*Message, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(value, &fields); err != nil {
		return nil, fmt.Errorf("%w: not a JSON object: %w", ErrMalformed, err)
	}
	if fields == nil {
		return nil, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	m := &Message{}
	id, ok := stringField(fields, "jobId")
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: jobId: missing or not a string", ErrMalformed)
	case strings.TrimSpace(id) == "":
		return nil, fmt.Errorf("%w: jobId: blank", ErrMalformed)
	case len(id) > MaxJobIDBytes:
		return nil, fmt.Errorf("%w: jobId: longer than %d bytes", ErrMalformed, MaxJobIDBytes)
	}
	// The first reason to reject the job is the one given.
	reject := func(why string) {
		if m.Reject == "" {
			m.Reject = why
		}
	}
	m.JobID = id
	if u, ok := canonicalUUID(id); ok {
		m.JobID = u
	} else {
		reject("jobId: not a UUID")
	}
	switch s, ok := stringField(fields, "script"); {
	case !ok:
		reject("script: missing or not a string")
	case strings.TrimSpace(s) == "":
		reject("script: blank")
	default:
		m.Script = s
	}
	if raw, ok := fields["jobConfig"]; ok && !isNull(raw) {
		var cfg map[string]json.RawMessage
		if err := json.Unmarshal(raw, &cfg); err != nil {
			reject("jobConfig: not a JSON object")
			return m, nil
		}
		for k := range cfg {
			if v, ok := stringField(cfg, k); ok {
				if m.JobConfig == nil {
					m.JobConfig = map[string]string{}
				}
				m.JobConfig[k] = v
			}
		}
	}
	return m, nil
}

// canonicalUUID returns id as the original writes a UUID (java.util.UUID's
// toString: lower-case hex in 8-4-4-4-12 groups) if it is one in that
// form, in either case; the original's scheduler reads nothing else.
func canonicalUUID(id string) (string, bool) {
	if len(id) != 36 {
		return "", false
	}
	for i := range len(id) {
		c := id[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return "", false
		}
	}
	return strings.ToLower(id), true
}

// stringField returns fields[name] if it is a JSON string.
func stringField(fields map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := fields[name]
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// Running is the value of a running message.
type Running struct {
	JobID string `json:"jobId"`
}

// Finished is the value of a finished message.
type Finished struct {
	JobID  string `json:"jobId"`
	Status string `json:"status"`
	// ScriptResults is set for ACCEPTED jobs only.
	ScriptResults *ScriptResults `json:"scriptResults,omitempty"`
}

// ScriptResults is how an accepted job's script ended and what it wrote.
type ScriptResults struct {
	FinishedWith string `json:"finishedWith"`
	Stdout       string `json:"stdout"`
	Stderr       string `json:"stderr"`
}

// marshal encodes v without escaping <, > and & (scripts print XML).
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("kafka: encoding %T: %v", v, err)) // only strings inside
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// truncatedNote ends an output cut to fit the message size; it reads like
// the executor's marker for output past the output limit.
func truncatedNote(kept int) string {
	return fmt.Sprintf("\n[berth: output truncated at %d bytes to fit the message]\n", kept)
}

// encodeFinished encodes f, cutting the longer of stdout and stderr (from
// the end) until the message is at most limit bytes. Each cut output ends
// with a note saying so. limit <= 0 means no bound.
func encodeFinished(f *Finished, limit int) []byte {
	b := marshal(f)
	if limit <= 0 || len(b) <= limit || f.ScriptResults == nil {
		return b
	}
	r := *f.ScriptResults
	out := &Finished{JobID: f.JobID, Status: f.Status, ScriptResults: &r}
	// Kept bytes of each stream, before its note.
	keep := [2]int{len(r.Stdout), len(r.Stderr)}
	orig := [2]string{r.Stdout, r.Stderr}
	for len(b) > limit && (keep[0] > 0 || keep[1] > 0) {
		i := 0
		if keep[1] > keep[0] {
			i = 1
		}
		// JSON escaping may make a byte cost up to six: cut at least the
		// excess, and more as the loop repeats.
		excess := len(b) - limit + len(truncatedNote(keep[i]))
		keep[i] = max(0, keep[i]-excess)
		keep[i] = runeStart(orig[i], keep[i])
		cut := orig[i][:keep[i]] + truncatedNote(keep[i])
		if i == 0 {
			r.Stdout = cut
		} else {
			r.Stderr = cut
		}
		b = marshal(out)
	}
	return b
}

// runeStart moves n back to the start of the UTF-8 sequence it falls in.
func runeStart(s string, n int) int {
	for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}
