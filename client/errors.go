package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/berth-run/berth/job"
)

// APIError is an error answer of the server:
// {"error": {"code": ..., "message": ..., "field": ...}}.
//
// errors.Is(err, job.ErrNotFound) holds for code "not_found",
// errors.Is(err, job.ErrInvalidState) for "invalid_state" and
// errors.Is(err, ErrUnauthorized) for "unauthorized".
type APIError struct {
	Status  int    // the HTTP status
	Code    string // one of the Code constants
	Message string
	Field   string // the input at fault, for code "invalid"
}

// The error codes of the API.
const (
	CodeInvalid      = "invalid"
	CodeUnauthorized = "unauthorized"
	CodeNotFound     = "not_found"
	CodeInvalidState = "invalid_state"
	CodeInternal     = "internal"
	// CodeMethodNotAllowed answers a method an endpoint does not take.
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeUnavailable: the server is shutting down; retry later.
	CodeUnavailable = "unavailable"
	// CodeStarting: the server is recovering its jobs after a start; the
	// client retries (WithStartWait).
	CodeStarting = "starting"
)

// ErrUnauthorized matches an *APIError of code "unauthorized".
var ErrUnauthorized = errors.New("unauthorized")

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	// Name the field unless the message already starts with it.
	if e.Field != "" && !strings.HasPrefix(msg, e.Field) {
		return e.Field + ": " + msg
	}
	return msg
}

// Is lets errors.Is match the job package's sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case job.ErrNotFound:
		return e.Code == CodeNotFound
	case job.ErrInvalidState:
		return e.Code == CodeInvalidState
	case ErrUnauthorized:
		return e.Code == CodeUnauthorized
	}
	return false
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Field   string `json:"field"`
		} `json:"error"`
	}
	e := &APIError{Status: resp.StatusCode}
	if json.Unmarshal(b, &body) == nil && body.Error.Code != "" {
		e.Code, e.Message, e.Field = body.Error.Code, body.Error.Message, body.Error.Field
		return e
	}
	// Not our error format (a proxy, or a server of another kind): keep
	// the status and a bit of the text.
	switch resp.StatusCode {
	case http.StatusNotFound:
		e.Code = CodeNotFound
	case http.StatusUnauthorized:
		e.Code = CodeUnauthorized
	case http.StatusConflict:
		e.Code = CodeInvalidState
	case http.StatusBadRequest:
		e.Code = CodeInvalid
	case http.StatusServiceUnavailable:
		e.Code = CodeUnavailable
	default:
		e.Code = CodeInternal
	}
	if t := strings.TrimSpace(string(b)); t != "" && len(t) < 200 {
		e.Message = fmt.Sprintf("server answered %d: %s", resp.StatusCode, t)
	}
	return e
}

// NoServerError reports that nothing answered at the server's address, or,
// with Starting set, that the server there was still starting when the
// client gave up waiting for it.
type NoServerError struct {
	Addr     string // as the user gave it, or the socket path
	Err      error  // the dial error, or the server's answer
	Starting bool
}

func (e *NoServerError) Error() string {
	if e.Starting {
		return "berth server at " + e.Addr + " is starting; try again shortly"
	}
	return "no berth server at " + e.Addr + "; start one with `berth serve`"
}

func (e *NoServerError) Unwrap() error { return e.Err }

// connError turns a failure to connect into a *NoServerError.
func (c *Client) connError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return &NoServerError{Addr: c.addr, Err: err}
	}
	return err
}
