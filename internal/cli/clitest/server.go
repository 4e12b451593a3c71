// Package clitest helps test berth's commands: a Factory on test buffers,
// and a real berth server for them to talk to (daemon.Serve: the store on
// disk, the embedded NATS, the scheduler, the HTTP API and, unless told
// otherwise, the local worker running jobs in this process).
//
// A server costs a fraction of a second to start, so a test package shares
// one where its tests can: Shared starts it at first use and Main stops it
// after the package's tests. Tests whose output names job IDs read them from
// what they submitted or seeded, since the tests of a package run at once.
package clitest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/daemon"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
)

// Options configure a Server.
type Options struct {
	// Seed, when set, records fixtures in the store before the server
	// starts: jobs and tasks at the times and in the states a golden output
	// needs, which no job run now could have. Defaults to none.
	Seed func(*Fixtures)
	// NoWorker runs no local worker: seeded and submitted tasks stay
	// queued. Defaults to false: a local worker runs them as processes.
	NoWorker bool
}

// Server is a berth server on a temporary data directory. Commands reach it
// on its unix socket.
type Server struct {
	// Dir is the server's data directory.
	Dir    datadir.Dir
	cancel context.CancelFunc
	done   chan error
}

// startTimeout bounds a server's start, and waitTimeout a wait of WaitFor.
const (
	startTimeout = time.Minute
	waitTimeout  = time.Minute
)

// StartServer starts a server for one test; it is stopped, with its jobs,
// when the test ends.
func StartServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	return s
}

func start(opts Options) (*Server, error) {
	// A short path: unix socket paths are limited to 107 bytes.
	d, err := os.MkdirTemp("", "bc")
	if err != nil {
		return nil, err
	}
	dir := datadir.Dir(d)
	if opts.Seed != nil {
		if err := seed(dir, opts.Seed); err != nil {
			os.RemoveAll(d)
			return nil, err
		}
	}
	mode := daemon.WorkerInProcess
	if opts.NoWorker {
		mode = daemon.WorkerNone
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Dir: dir, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		s.done <- daemon.Serve(ctx, daemon.ServeConfig{
			DataDir: dir, Slots: 4, Sync: "normal", Worker: mode, StopJobsOnExit: true,
			StopGrace: time.Second, Version: "test", Ready: func() { close(ready) },
			// Seeded tasks that run on no worker are not taken as lost.
			Lease: time.Hour,
		})
	}()
	select {
	case <-ready:
		return s, nil
	case err := <-s.done:
		cancel()
		os.RemoveAll(d)
		return nil, fmt.Errorf("berth server: %w", err)
	case <-time.After(startTimeout):
		cancel()
		return nil, errors.New("berth server: not ready after a minute")
	}
}

func (s *Server) stop() {
	s.cancel()
	<-s.done
	os.RemoveAll(string(s.Dir))
}

// Addr is the server's address, its socket.
func (s *Server) Addr() string { return s.Dir.Socket() }

// Env returns a factory whose client talks to the server.
func (s *Server) Env(t testing.TB, tty bool) *Env {
	return NewEnv(t, s.Addr(), tty)
}

// Client returns an API client of the server.
func (s *Server) Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Submit submits spec and returns the new job's ID.
func (s *Server) Submit(t testing.TB, spec job.Spec) int64 {
	t.Helper()
	j, err := s.Client(t).Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	return j.ID
}

// Wait waits for the jobs to end.
func (s *Server) Wait(t testing.TB, ids ...int64) {
	t.Helper()
	if _, err := s.Client(t).Wait(context.Background(), ids, false, 0); err != nil {
		t.Fatal(err)
	}
}

// Heartbeat has a worker of pool, enrolled for it, send one heartbeat
// through the embedded NATS as a real worker does: the server then lists
// it as hb says (hb.Worker and hb.Pool are set from id and pool).
func (s *Server) Heartbeat(t testing.TB, id, pool string, hb dispatch.Heartbeat) {
	t.Helper()
	ctx := context.Background()
	cred, err := s.Client(t).EnrollWorker(ctx, id, pool)
	if err != nil {
		t.Fatal(err)
	}
	seed := filepath.Join(t.TempDir(), "seed.nk")
	if err := os.WriteFile(seed, []byte(cred.Seed), 0o600); err != nil {
		t.Fatal(err)
	}
	var info struct {
		URL string `json:"url"`
	}
	if err := readJSON(s.Dir.NATSInfo(), &info); err != nil {
		t.Fatal(err)
	}
	conn, err := dispatch.Connect(ctx, dispatch.ConnectConfig{URLs: []string{info.URL}, NKeySeedFile: seed, Worker: id, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hb.Pool = cred.Pool
	r, err := conn.Heartbeat(ctx, &hb)
	if err != nil {
		t.Fatal(err)
	}
	if r.Error != "" {
		t.Fatal(r.Error)
	}
}

// Shared is a server that the tests of a package share.
type Shared struct {
	opts Options
	once sync.Once
	s    *Server
	err  error
}

var (
	sharedMu sync.Mutex
	shared   []*Shared
)

// Share returns a server the tests of a package share, started at the
// first call of its Server. The package's TestMain must call Main.
func Share(opts Options) *Shared {
	sh := &Shared{opts: opts}
	sharedMu.Lock()
	shared = append(shared, sh)
	sharedMu.Unlock()
	return sh
}

// Server returns the shared server, started now if it is the first call.
func (sh *Shared) Server(t testing.TB) *Server {
	t.Helper()
	sh.once.Do(func() { sh.s, sh.err = start(sh.opts) })
	if sh.err != nil {
		t.Fatal(sh.err)
	}
	return sh.s
}

// Main runs a test package's tests, then stops its shared servers, and
// exits. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	sharedMu.Lock()
	for _, sh := range shared {
		if sh.s != nil {
			sh.s.stop()
		}
	}
	sharedMu.Unlock()
	os.Exit(code)
}

// WaitFor waits until ok holds of job id, re-reading it as it changes.
func (s *Server) WaitFor(t testing.TB, id int64, ok func(*job.Job) bool) *job.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	c := s.Client(t)
	events, err := c.Events(ctx, []int64{id})
	if err != nil {
		t.Fatal(err)
	}
	defer events.Close()
	for {
		j, err := c.Job(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(j) {
			return j
		}
		if _, err := events.Recv(); err != nil {
			t.Fatalf("job %d: %v", id, err)
		}
	}
}

// Running waits until n tasks of job id run.
func (s *Server) Running(t testing.TB, id int64, n int) {
	t.Helper()
	s.WaitFor(t, id, func(j *job.Job) bool { return j.Tasks[job.Running] == n })
}
