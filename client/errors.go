package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/berth-run/berth/api"
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
	Code    string // one of the api.Code constants
	Message string
	Field   string // the input at fault, for code "invalid"
	// Foreign reports an answer not in berth's format: what answered is
	// not a berth server (or is a proxy in front of one).
	Foreign bool
}

// ErrUnauthorized matches an *APIError of code "unauthorized".
var ErrUnauthorized = errors.New("unauthorized")

func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
	}
	// Name the field unless the message already starts with it, or it
	// is the job or task of the request's path, which the user named.
	if e.Field != "" && e.Field != "ref" && !strings.HasPrefix(msg, e.Field) {
		return e.Field + ": " + msg
	}
	return msg
}

// Is lets errors.Is match the job package's sentinel errors.
func (e *APIError) Is(target error) bool {
	switch target {
	case job.ErrNotFound:
		return e.Code == api.CodeNotFound
	case job.ErrInvalidState:
		return e.Code == api.CodeInvalidState
	case ErrUnauthorized:
		return e.Code == api.CodeUnauthorized
	}
	return false
}

func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var body api.ErrorBody
	e := &APIError{Status: resp.StatusCode}
	if json.Unmarshal(b, &body) == nil && body.Error != nil && body.Error.Code != "" {
		e.Code, e.Message, e.Field = body.Error.Code, body.Error.Message, body.Error.Field
		return e
	}
	// Not our error format: something else answers at the address (a
	// proxy in front of berth, or another server). Only a proxy's 502-504
	// says berth may be back soon.
	e.Foreign, e.Code = true, api.CodeInternal
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		e.Code = api.CodeUnavailable
	}
	e.Message = notBerth(resp)
	if t := strings.TrimSpace(string(b)); t != "" && len(t) < 200 && !strings.HasPrefix(t, "<") {
		e.Message += ": " + t
	}
	return e
}

// notBerth says what answered in place of a berth server: its status and,
// when it names itself, its Server header.
func notBerth(resp *http.Response) string {
	at := "the server"
	if resp.Request != nil && resp.Request.URL != nil && resp.Request.URL.Host != "" {
		at = resp.Request.URL.Scheme + "://" + resp.Request.URL.Host
	}
	what := fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	if sv := resp.Header.Get("Server"); sv != "" {
		what += " from " + sv
	}
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode/100 == 2 && ct != "" {
		what += " with " + ct
	}
	return fmt.Sprintf("not a berth server at %s: it answered %s", at, what)
}

// NoServerError reports that nothing answered at the server's address,
// with Answered, what answered there instead, or, with Starting set, that
// the server there was still starting when the client gave up waiting for
// it.
type NoServerError struct {
	Addr string // as the user gave it, or the socket path
	Err  error  // the dial error, or the server's answer
	// Answered, when set, says what answered there instead.
	Answered string
	Starting bool
}

func (e *NoServerError) Error() string {
	if e.Starting {
		return "berth server at " + e.Addr + " is starting; try again shortly"
	}
	if e.Answered != "" {
		return "not a berth server at " + e.Addr + ": " + e.Answered
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
	// net/http's words for an answer that is not HTTP.
	switch m := err.Error(); {
	case strings.Contains(m, "server gave HTTP response to HTTPS client"),
		strings.Contains(m, "first record does not look like a TLS handshake"):
		return &NoServerError{Addr: c.addr, Err: err, Answered: "it speaks plain HTTP, not HTTPS: use http://"}
	case strings.Contains(m, "malformed HTTP response") && strings.Contains(m, `"\x15\x03`):
		return &NoServerError{Addr: c.addr, Err: err, Answered: "it speaks TLS: use https://"}
	case strings.Contains(m, "readLoopPeekFailLocked"): // it spoke first, as SSH does
		return &NoServerError{Addr: c.addr, Err: err, Answered: "it does not speak HTTP; it spoke before it was asked"}
	case strings.Contains(m, "malformed HTTP response"):
		_, got, _ := strings.Cut(m, "malformed HTTP response ")
		return &NoServerError{Addr: c.addr, Err: err, Answered: "it does not speak HTTP; it answered " + got}
	}
	return err
}
