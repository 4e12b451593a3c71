// Package api holds the types of berth's HTTP API (docs/openapi.yaml) that
// the job package does not: list pages, task details with their history,
// receive records, worker listings, health and errors. The server encodes
// them, the client decodes them and the CLI prints them, so each is written
// once. Jobs, tasks and events travel as job.Job, job.Task and job.Event.
//
// The server maps its store's and dispatcher's types to these at its edge:
// what the API answers does not change when they do.
package api

// The error codes of the API (docs/api.md, "Errors").
const (
	// CodeInvalid is a 400: bad input; Error.Field names it.
	CodeInvalid = "invalid"
	// CodeUnauthorized is a 401: a missing or wrong token.
	CodeUnauthorized = "unauthorized"
	// CodeNotFound is a 404: no such job, task, worker or endpoint.
	CodeNotFound = "not_found"
	// CodeInvalidState is a 409: the action does not apply now.
	CodeInvalidState = "invalid_state"
	// CodeMethodNotAllowed is a 405.
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeUnavailable is a 503 from a server that is shutting down, or from
	// a proxy in front of one that is gone.
	CodeUnavailable = "unavailable"
	// CodeStarting is a 503 from a server still recovering its jobs after
	// a start; the request may be sent again shortly.
	CodeStarting = "starting"
	// CodeInternal is a 500: the server's fault.
	CodeInternal = "internal"
)

// Error is the body of an error answer, under "error".
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field names the input at fault, for code invalid.
	Field string `json:"field,omitempty"`
}

// ErrorBody is an error answer.
type ErrorBody struct {
	Error *Error `json:"error"`
}

// Health is the answer of GET /v1/health.
type Health struct {
	OK bool `json:"ok"`
	// Status is "ok", "degraded" (a part below fails; reads are still
	// served) or "starting".
	Status string `json:"status"`
	// Ready says the server has recovered its jobs after its start.
	Ready bool `json:"ready"`
	// Error is, while starting, the error every other request gets.
	Error    *Error `json:"error,omitempty"`
	Version  string `json:"version"`
	ServerID string `json:"server_id"`
	// Store says why the store cannot write; empty when it can.
	Store string `json:"store,omitempty"`
	// Dispatch says why work cannot be dispatched; empty when it can.
	Dispatch string `json:"dispatch,omitempty"`
	// DataDirBytes is the data directory's disk use, at most 30 s old.
	DataDirBytes int64 `json:"data_dir_bytes,omitempty"`
}

// UICode is a one-time login code of the dashboard and the loopback URL
// that spends it (empty when the server does not listen on TCP).
type UICode struct {
	Code string `json:"code"`
	URL  string `json:"url"`
}
