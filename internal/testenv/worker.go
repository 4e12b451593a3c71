package testenv

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Worker is a `berth worker --nats` process joined to a Server's fleet, on
// a state directory of its own, as a worker on another host would be.
type Worker struct {
	t    testing.TB
	s    *Server
	ID   string
	Dir  string
	Args []string
	// enrolled says the worker has an identity from the server's API.
	enrolled bool
	cmd      *exec.Cmd
	done     chan struct{}
}

// StartWorker starts a remote worker for s (which must expose NATS, e.g.
// with --nats-listen 127.0.0.1:0 or just its default loopback port) and
// stops it when the test ends.
func (s *Server) StartWorker(t testing.TB, id string, args ...string) *Worker {
	t.Helper()
	w := &Worker{t: t, s: s, ID: id, Dir: ShortTempDir(t), Args: args}
	// A worker given NATS credentials of its own (an external NATS) is
	// not enrolled.
	w.enrolled = !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--nats") })
	if w.enrolled {
		pool := ""
		for i, a := range args {
			if a == "--pool" && i+1 < len(args) {
				pool = args[i+1]
			}
		}
		cred, err := s.Client().EnrollWorker(context.Background(), id, pool)
		if err != nil {
			t.Fatalf("enrolling worker %s: %v", id, err)
		}
		if err := os.WriteFile(w.seedFile(), []byte(cred.Seed+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w.Start()
	t.Cleanup(w.Stop)
	return w
}

// NATSURL returns the URL of the server's NATS, from its nats.json.
func (s *Server) NATSURL() string {
	s.t.Helper()
	b, err := os.ReadFile(s.Dir.NATSInfo())
	if err != nil {
		s.t.Fatal(err)
	}
	var info struct {
		URL string `json:"url"`
	}
	if err := json.Unmarshal(b, &info); err != nil {
		s.t.Fatal(err)
	}
	return info.URL
}

// Start starts the worker process (again, after Kill or Stop).
func (w *Worker) Start() {
	w.t.Helper()
	log, err := os.OpenFile(filepath.Join(w.Dir, "worker.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		w.t.Fatal(err)
	}
	argv := []string{"worker", "--log-level", "debug", "--nats", w.s.NATSURL(), "--id", w.ID, "--state-dir", filepath.Join(w.Dir, "state")}
	if w.enrolled {
		argv = append(argv, "--nats-nkey", w.seedFile())
	}
	argv = append(argv, w.Args...)
	w.cmd = exec.Command(w.s.Bin, argv...)
	// Its own home: nothing of the server's data directory is shared.
	w.cmd.Env = append(os.Environ(), "BERTH_HOME="+filepath.Join(w.Dir, "home"), "BERTH_ADDR=")
	w.cmd.Stdout, w.cmd.Stderr = log, log
	if err := w.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	log.Close()
	w.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(w.cmd, w.done)
}

// seedFile holds the worker's NKey seed, from its enrolment.
func (w *Worker) seedFile() string { return filepath.Join(w.Dir, w.ID+".nk") }

// Kill kills the worker with SIGKILL.
func (w *Worker) Kill() {
	if w.cmd != nil && w.cmd.Process != nil {
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// Signal sends sig to the worker.
func (w *Worker) Signal(sig syscall.Signal) {
	if w.cmd != nil && w.cmd.Process != nil {
		_ = w.cmd.Process.Signal(sig)
	}
}

// Wait waits up to d for the worker to exit and reports whether it did.
func (w *Worker) Wait(d time.Duration) bool {
	select {
	case <-w.done:
		return true
	case <-time.After(d):
		return false
	}
}

// Stop stops the worker with SIGTERM, then SIGKILL after 30s.
func (w *Worker) Stop() {
	if w.cmd == nil || w.cmd.Process == nil {
		return
	}
	select {
	case <-w.done:
		return
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	if !w.Wait(30 * time.Second) {
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// Log returns the worker's log.
func (w *Worker) Log() string {
	b, _ := os.ReadFile(filepath.Join(w.Dir, "worker.log"))
	return string(b)
}
