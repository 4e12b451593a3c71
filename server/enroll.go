package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/berth-run/berth/api"
)

// Enroller issues and revokes worker identities: each enrolled worker gets
// an NKey of its own that lets it act as that worker, in its pool, and as
// nothing else (see dispatch.WorkerPermissions).
//
// Errors: *job.FieldError for a bad ID or pool, job.ErrNotFound (wrapped)
// for an unknown worker, ErrNoEnrolment when the server does not manage
// its NATS users (an external NATS).
type Enroller interface {
	Enroll(ctx context.Context, id, pool string) (*api.WorkerCredentials, error)
	Revoke(ctx context.Context, id string) error
}

// ErrNoEnrolment is returned by an Enroller of a server on an external
// NATS, whose users its operator configures.
var ErrNoEnrolment = errors.New("this server uses an external NATS: give each worker a NATS user of its own with the permissions docs/fleet.md lists")

func (s *Server) enrollWorker(w http.ResponseWriter, r *http.Request) {
	var req api.EnrollRequest
	if err := decodeBody(w, r, &req); err != nil {
		s.writeError(w, r, err, noRef)
		return
	}
	cred, err := s.enroller().Enroll(r.Context(), req.ID, req.Pool)
	if err != nil {
		s.writeError(w, r, enrolError(err), noRef)
		return
	}
	s.log.Info("worker enrolled", "worker", cred.ID, "pool", cred.Pool, "nkey", cred.NKey)
	writeJSON(w, http.StatusCreated, cred)
}

func (s *Server) revokeWorker(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.enroller().Revoke(r.Context(), id); err != nil {
		s.writeError(w, r, enrolError(err), noRef)
		return
	}
	s.log.Info("worker revoked", "worker", id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) enroller() Enroller {
	if s.cfg.Enroller == nil {
		return noEnroller{}
	}
	return s.cfg.Enroller
}

func enrolError(err error) error {
	if errors.Is(err, ErrNoEnrolment) {
		return &apiError{Status: http.StatusConflict, Code: codeInvalidState, Message: err.Error()}
	}
	return err
}

type noEnroller struct{}

func (noEnroller) Enroll(context.Context, string, string) (*api.WorkerCredentials, error) {
	return nil, ErrNoEnrolment
}
func (noEnroller) Revoke(context.Context, string) error { return ErrNoEnrolment }
