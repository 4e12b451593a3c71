// Package testenv starts the real dependencies berth's tests need: a built
// berth binary, a running `berth serve` on a temporary data directory, and
// the CLI pointed at it.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/datadir"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Berth returns the path of a berth binary built from this checkout, once
// per test process; it is static (CGO_ENABLED=0).
func Berth(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "berth-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "berth")
		cmd := exec.Command("go", "build", "-o", buildPath, "./cmd/berth")
		cmd.Dir = root
		// Static, so that images of the fleet tests can hold it too.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building berth: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside berth's module")
	}
	return filepath.Dir(mod), nil
}

// Server is a `berth serve` process on its own data directory.
type Server struct {
	t    testing.TB
	Bin  string
	Dir  datadir.Dir
	Args []string // extra arguments of `berth serve`
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// StartServer starts `berth serve` on a new temporary data directory and
// waits until its API answers. It is stopped (and its local worker with
// it) when the test ends.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	return startServer(t, Berth(t), ShortTempDir(t), ownArgs(args)...)
}

// ownArgs adds to the arguments of this checkout's `berth serve` that a
// stopped server stops its jobs, so that no test leaves any behind; a test
// of restarts that keep them passes --stop-jobs-on-exit=false.
func ownArgs(args []string) []string {
	return append([]string{"--stop-jobs-on-exit"}, args...)
}

// StartServerBin is StartServer with the berth binary bin (another
// version's, for a benchmark against it).
func StartServerBin(t testing.TB, bin string, args ...string) *Server {
	t.Helper()
	return startServer(t, bin, ShortTempDir(t), args...)
}

// StartServerIn is StartServer on the data directory dir (a short path).
func StartServerIn(t testing.TB, dir string, args ...string) *Server {
	t.Helper()
	return startServer(t, Berth(t), dir, ownArgs(args)...)
}

func startServer(t testing.TB, bin, dir string, args ...string) *Server {
	t.Helper()
	s := &Server{t: t, Bin: bin, Dir: datadir.Dir(dir), Args: args}
	s.Start()
	t.Cleanup(func() {
		s.Stop()
		s.killWorker()
	})
	return s
}

// ShortTempDir is t.TempDir() in a short path: unix socket paths are
// limited to 107 bytes.
func ShortTempDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "bt")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// Start starts the server process (again, after Kill or Stop).
func (s *Server) Start() {
	s.t.Helper()
	log, err := os.OpenFile(filepath.Join(string(s.Dir), "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	s.log = log
	s.cmd = exec.Command(s.Bin, append([]string{"serve", "--log-level", "debug"}, s.Args...)...)
	s.cmd.Env = s.Env()
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		close(done)
	}(s.cmd, s.done)
	c := s.Client()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := c.Health(context.Background()); err == nil {
			return
		}
		select {
		case <-s.done:
			s.t.Fatalf("berth serve exited at start:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("berth serve did not answer within 20s:\n%s", s.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Env is the environment for berth commands aimed at this server.
func (s *Server) Env() []string {
	return append(os.Environ(), "BERTH_HOME="+string(s.Dir), "BERTH_ADDR=")
}

// Client returns an API client of the server.
func (s *Server) Client() *client.Client {
	c, err := client.New(s.Dir.Socket())
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// Kill kills the server with SIGKILL (its local worker lives on).
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Stop stops the server with SIGTERM and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(40 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// killWorker kills a local worker left behind (after a Kill of the server)
// and the jobs it ran, so that no test leaves processes behind.
func (s *Server) killWorker() {
	if pid := s.WorkerPID(); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// The executor's journal names each job's process group.
	b, _ := os.ReadFile(filepath.Join(s.Dir.WorkerTasks(), "tasks.jsonl"))
	live := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		var r struct {
			Start *struct {
				ID  string `json:"id"`
				PID int    `json:"pid"`
			} `json:"start"`
			End string `json:"end"`
		}
		if json.Unmarshal([]byte(line), &r) != nil {
			continue
		}
		if r.Start != nil {
			live[r.Start.ID] = r.Start.PID
		} else {
			delete(live, r.End)
		}
	}
	for _, pid := range live {
		if pid > 0 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
}

// WorkerPID returns the local worker's process ID, or 0.
func (s *Server) WorkerPID() int {
	b, err := os.ReadFile(s.Dir.WorkerPID())
	if err != nil {
		return 0
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	return pid
}

// Dump has the server and its local worker write their goroutines to their
// logs (SIGQUIT, which ends them), for a test that found them stuck, and
// returns the logs.
func (s *Server) Dump() string {
	if pid := s.WorkerPID(); pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGQUIT)
	}
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
		}
	}
	time.Sleep(500 * time.Millisecond) // the worker's dump
	return s.Log()
}

// Log returns what the server and its local worker logged.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(string(s.Dir), "serve.log"))
	w, _ := os.ReadFile(s.Dir.WorkerLog())
	return string(b) + "\n--- local worker ---\n" + string(w)
}

// Result is what a berth command did.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Berth runs the berth CLI against the server, with stdin if given.
func (s *Server) Berth(stdin string, args ...string) Result {
	s.t.Helper()
	return s.BerthContext(context.Background(), stdin, args...)
}

// BerthContext is Berth with a context that kills the command.
func (s *Server) BerthContext(ctx context.Context, stdin string, args ...string) Result {
	s.t.Helper()
	return s.run(ctx, s.Env(), stdin, args)
}

// BerthEnv runs the CLI with env added to the server's (later entries win).
func (s *Server) BerthEnv(ctx context.Context, env []string, args ...string) Result {
	s.t.Helper()
	return s.run(ctx, append(s.Env(), env...), "", args)
}

func (s *Server) run(ctx context.Context, env []string, stdin string, args []string) Result {
	s.t.Helper()
	cmd := exec.CommandContext(ctx, s.Bin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	case err != nil:
		s.t.Fatalf("running berth %v: %v", args, err)
	}
	return r
}
