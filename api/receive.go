package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/berth-run/berth/job"
)

// Received is what one task produced since the last receive. Stdout and
// Stderr are text with invalid UTF-8 replaced by U+FFFD; when there was
// any, StdoutBase64 or StderrBase64 holds the exact bytes (see
// StdoutBytes).
type Received struct {
	Ref string `json:"ref"`
	// Name is the job's name; Input the task's input line, for jobs
	// submitted with inputs (run --each).
	Name         string            `json:"name,omitempty"`
	Input        string            `json:"input,omitempty"`
	State        job.State         `json:"state"`
	SubState     job.SubState      `json:"substate,omitzero"`
	ExitCode     *int              `json:"exit_code,omitempty"`
	Stdout       string            `json:"stdout"`
	StdoutBase64 string            `json:"stdout_base64,omitempty"`
	Stderr       string            `json:"stderr"`
	StderrBase64 string            `json:"stderr_base64,omitempty"`
	Results      []json.RawMessage `json:"results"`
}

// StdoutBytes returns the task's new stdout byte for byte.
func (r *Received) StdoutBytes() ([]byte, error) { return exact(r.Stdout, r.StdoutBase64) }

// StderrBytes returns the task's new stderr byte for byte.
func (r *Received) StderrBytes() ([]byte, error) { return exact(r.Stderr, r.StderrBase64) }

func exact(text, b64 string) ([]byte, error) {
	if b64 == "" {
		return []byte(text), nil
	}
	b, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("decoding output: %w", err)
	}
	return b, nil
}

// ReceiveResult is the answer of POST /v1/jobs/{ref}/receive: the tasks
// with something new.
type ReceiveResult struct {
	Tasks []Received `json:"tasks"`
}
