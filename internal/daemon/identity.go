package daemon

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/nats-io/nkeys"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/server"
)

// Worker identities on the embedded NATS. Each worker is an NKey user whose
// permissions let it act as itself only (dispatch.WorkerPermissions). The
// local worker's key is made at first start and kept in the data
// directory; other workers are enrolled through the API (`berth workers
// add`), which hands out the seed once and keeps only the public key, in
// workers.json.

// registry is the embedded NATS server's set of worker identities.
type registry struct {
	dir  datadir.Dir
	ns   *dispatch.Server // nil on an external NATS
	log  *slog.Logger
	mu   sync.Mutex
	list []dispatch.WorkerUser // enrolled, without the local worker
	self dispatch.WorkerUser   // the local worker
}

// newRegistry loads the enrolled workers and makes the local worker's key
// if need be.
func newRegistry(dir datadir.Dir, log *slog.Logger) (*registry, error) {
	r := &registry{dir: dir, log: log}
	if b, err := os.ReadFile(dir.EnrolledWorkers()); err == nil {
		if err := json.Unmarshal(b, &r.list); err != nil {
			return nil, fmt.Errorf("reading %s: %w", dir.EnrolledWorkers(), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	pub, err := ensureSeed(dir.WorkerIdentity())
	if err != nil {
		return nil, fmt.Errorf("the local worker's identity: %w", err)
	}
	r.self = dispatch.WorkerUser{ID: LocalWorkerID, Pool: job.PoolDefault, NKey: pub}
	return r, nil
}

// users is every identity the NATS server must accept.
func (r *registry) users() []dispatch.WorkerUser {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append(slices.Clone(r.list), r.self)
}

// ensureSeed returns the public key of the NKey user seed in path, making
// one (mode 0600) if the file does not exist.
func ensureSeed(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		kp, err := nkeys.FromSeed(bytes.TrimSpace(b))
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		return kp.PublicKey()
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	seed, _ := kp.Seed()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, append(seed, '\n'), 0o600); err != nil {
		return "", err
	}
	return kp.PublicKey()
}

var _ server.Enroller = (*registry)(nil)

// Enroll makes a new identity for worker id of pool, or replaces its key.
func (r *registry) Enroll(_ context.Context, id, pool string) (*api.WorkerCredentials, error) {
	if r.ns == nil {
		return nil, server.ErrNoEnrolment
	}
	pool = cmp.Or(pool, job.PoolDefault)
	if err := dispatch.CheckWorkerID(id); err != nil {
		return nil, &job.FieldError{Field: "id", Reason: err.Error()}
	}
	if id == LocalWorkerID {
		return nil, &job.FieldError{Field: "id", Reason: "\"local\" is the server's local worker"}
	}
	if err := job.CheckPool(pool); err != nil {
		return nil, err
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	r.mu.Lock()
	defer r.mu.Unlock()
	list := slices.DeleteFunc(slices.Clone(r.list), func(u dispatch.WorkerUser) bool { return u.ID == id })
	list = append(list, dispatch.WorkerUser{ID: id, Pool: pool, NKey: pub})
	if err := r.applyLocked(list); err != nil {
		return nil, err
	}
	return &api.WorkerCredentials{ID: id, Pool: pool, NKey: pub, Seed: string(seed)}, nil
}

// Revoke removes worker id's identity; its connection is closed.
func (r *registry) Revoke(_ context.Context, id string) error {
	if r.ns == nil {
		return server.ErrNoEnrolment
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	list := slices.DeleteFunc(slices.Clone(r.list), func(u dispatch.WorkerUser) bool { return u.ID == id })
	if len(list) == len(r.list) {
		return fmt.Errorf("no enrolled worker %q: %w", id, job.ErrNotFound)
	}
	return r.applyLocked(list)
}

// applyLocked saves list, then gives it to the NATS server.
func (r *registry) applyLocked(list []dispatch.WorkerUser) error {
	if err := writeJSON(r.dir.EnrolledWorkers(), list); err != nil {
		return err
	}
	if err := r.ns.SetWorkers(append(slices.Clone(list), r.self)); err != nil {
		return err
	}
	r.list = list
	return nil
}

// checkPool refuses a heartbeat that claims another pool than the one its
// worker is enrolled in: the pool decides which work a worker may claim.
// On an external NATS berth does not know the workers' pools.
func (r *registry) checkPool(hb *dispatch.Heartbeat) error {
	if r.ns == nil {
		return nil
	}
	pool := cmp.Or(hb.Pool, job.PoolDefault)
	for _, u := range r.users() {
		if u.ID == hb.Worker && u.Pool != pool {
			return fmt.Errorf("worker %s is enrolled in pool %s, not %s", hb.Worker, u.Pool, pool)
		}
	}
	return nil
}
