package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/job"
)

// The error codes of the API, as the handlers name them.
const (
	codeInvalid          = api.CodeInvalid
	codeUnauthorized     = api.CodeUnauthorized
	codeNotFound         = api.CodeNotFound
	codeInvalidState     = api.CodeInvalidState
	codeUnavailable      = api.CodeUnavailable
	codeStarting         = api.CodeStarting
	codeMethodNotAllowed = api.CodeMethodNotAllowed
	codeInternal         = api.CodeInternal
)

// apiError is an error answer. Handlers return it (or any error, which
// writeError maps) and the status and body (api.Error) follow from it.
type apiError struct {
	Status  int
	Code    string
	Message string
	Field   string
}

// body is the error as the API sends it.
func (e *apiError) body() *api.Error {
	return &api.Error{Code: e.Code, Message: e.Message, Field: e.Field}
}

func (e *apiError) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// invalid is a 400 naming the input at fault.
func invalid(field, format string, args ...any) *apiError {
	return &apiError{Status: http.StatusBadRequest, Code: codeInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// notFound is a 404 for the job or task ref names: "no job 7", "no task 7.3".
func notFound(ref job.Ref) *apiError {
	what := "job"
	if ref.HasIndex {
		what = "task"
	}
	return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: fmt.Sprintf("no %s %s", what, ref)}
}

func noJob(id int64) *apiError { return notFound(job.Ref{Job: id}) }

var errShuttingDown = &apiError{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "the server is shutting down"}

var errStarting = &apiError{Status: http.StatusServiceUnavailable, Code: codeStarting, Message: "the server is starting: it is recovering its jobs"}

// toAPIError maps the errors of the store and the scheduler to answers.
// ref, when not zero, names what a job.ErrNotFound is about.
func toAPIError(err error, ref job.Ref) *apiError {
	var ae *apiError
	var fe *job.FieldError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &fe):
		return invalid(fe.Field, "%s", fe.Reason)
	case errors.Is(err, job.ErrNotFound) && ref.Job != 0:
		return notFound(ref)
	case errors.Is(err, job.ErrNotFound):
		return &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: err.Error()}
	case errors.Is(err, job.ErrInvalidState):
		// The code says it; the message says why, without the sentinel.
		msg := strings.Replace(err.Error(), job.ErrInvalidState.Error()+": ", "", 1)
		return &apiError{Status: http.StatusConflict, Code: codeInvalidState, Message: msg}
	}
	return &apiError{Status: http.StatusInternalServerError, Code: codeInternal, Message: err.Error()}
}

// writeError answers with err mapped by toAPIError; 500s are logged, since
// they are the server's fault.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error, ref job.Ref) {
	ae := toAPIError(err, ref)
	if ae.Status >= 500 && ae != errShuttingDown && ae != errStarting {
		level := slog.LevelError
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			level = slog.LevelDebug // the client went away
		}
		s.log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	writeJSON(w, ae.Status, api.ErrorBody{Error: ae.body()})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"encoding the answer failed"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// noRef is the zero ref, for errors not about a job.
var noRef job.Ref
