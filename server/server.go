// Package server is berth's HTTP/JSON API (docs/api.md, docs/openapi.yaml).
//
// Reads go straight to the store; every change goes through the Scheduler,
// the only writer of job state. Task output is read from the files in the
// data directory, where workers write it: following logs waits on inotify
// (one instance that all followers share) for new bytes and on the
// scheduler's events for the task's end, so nothing polls unless inotify is
// out of watches.
//
// The server listens on a unix socket (mode 0600, no token) and optionally
// on TCP, where every request needs the bearer token of EnsureToken or a
// session of the web dashboard (package ui, mounted under /ui/), whose
// changes also need its CSRF token. It serves Prometheus metrics at
// /metrics (internal/metrics) and its own description at
// /v1/openapi.yaml.
package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/internal/metrics"
	"github.com/berth-run/berth/server/ui"
	"github.com/berth-run/berth/store"
)

// Config configures New.
type Config struct {
	// DataDir is where task output lives. Required.
	DataDir datadir.Dir
	// Store is read for jobs and tasks. Required.
	Store *store.Store
	// Scheduler is asked for every change. Required.
	Scheduler Scheduler
	// Logger gets a debug line per request and the errors of the server.
	// Defaults to slog.Default().
	Logger *slog.Logger
	// Version is reported by /v1/health. Defaults to VersionDefault.
	Version string
	// ServerID identifies this server's data (reported by /v1/health). Required.
	ServerID string
	// Enroller issues worker identities (POST /v1/workers). Defaults to
	// none: enrolment is refused.
	Enroller Enroller
	// DispatchCheck is run by /v1/health besides its check of the store:
	// it returns why work cannot be dispatched, or nil. Defaults to none.
	DispatchCheck func(context.Context) error
	// Metrics serves /metrics. Defaults to the metrics of the scheduler's
	// pools and workers and of the Go runtime, without the store's or
	// NATS's figures.
	Metrics http.Handler
	// Ready, when set, is closed once the server has recovered its state:
	// until then every request but /v1/health is answered 503 "starting",
	// and the health says status "starting". Defaults to nil: ready at once.
	Ready <-chan struct{}
	// JobRemoved, when set, is called after a job was removed (DELETE
	// /v1/jobs/{id}), to remove what it left outside the store: the
	// containers kept after its tasks ended ("rm" false). Defaults to none.
	JobRemoved func(ctx context.Context, id int64)
}

// VersionDefault is the version reported when Config.Version is empty.
const VersionDefault = "devel"

// ShutdownTimeout bounds how long a canceled Serve waits for in-flight
// requests before closing their connections.
const ShutdownTimeout = 10 * time.Second

const pingIntervalDefault = 15 * time.Second

// Server serves the API. Its Serve methods may run at the same time (the
// socket and TCP).
type Server struct {
	cfg Config
	log *slog.Logger
	// routes is the API without logging; handler adds it.
	routes  http.Handler
	handler http.Handler
	// pingInterval is the period of SSE keep-alive comments, and
	// receiveBudget the most one receive returns; tests shorten them.
	pingInterval  time.Duration
	receiveBudget int64
	// watches is the inotify instance all log followers share.
	watches watchHub
	// ui is the dashboard; logins its sessions and one-time codes on TCP.
	ui     *ui.UI
	logins *ui.Logins
	// encoded caches the SSE encoding of recent events for all streams.
	encoded eventCache
	// tcpAddr is the address ServeTCP listens on (for berth ui's URL).
	mu      sync.Mutex
	tcpAddr string
	// disk is the data directory's disk use, as the health reports it.
	disk diskUse
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	switch {
	case cfg.DataDir == "":
		return nil, errors.New("server config: DataDir is required")
	case cfg.Store == nil:
		return nil, errors.New("server config: Store is required")
	case cfg.Scheduler == nil:
		return nil, errors.New("server config: Scheduler is required")
	case cfg.ServerID == "":
		return nil, errors.New("server config: ServerID is required")
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.Default())
	cfg.Version = cmp.Or(cfg.Version, VersionDefault)
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New(metrics.Config{Pools: cfg.Scheduler.Stats, Workers: cfg.Scheduler.Workers}).Handler()
	}
	dash, err := ui.New(ui.Config{Store: cfg.Store, Scheduler: cfg.Scheduler, Version: cfg.Version, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, pingInterval: pingIntervalDefault, receiveBudget: receiveBudgetDefault,
		ui: dash, logins: ui.NewLogins()}
	s.routes = s.gate(s.newMux())
	s.handler = s.logRequests(s.routes)
	return s, nil
}

// Handler returns the API's handler, without authentication.
func (s *Server) Handler() http.Handler { return s.handler }

// ServeUnix serves the API on a unix socket at path (mode 0600) until ctx
// is canceled. A stale socket file is replaced, but not one another server
// still answers on. The socket file is removed on return.
func (s *Server) ServeUnix(ctx context.Context, path string) error {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return fmt.Errorf("%s exists and is not a socket", path)
		}
		d := net.Dialer{Timeout: time.Second}
		if c, err := d.DialContext(ctx, "unix", path); err == nil {
			c.Close()
			return fmt.Errorf("another berth server is running at %s", path)
		}
		if err := os.Remove(path); err != nil {
			return fmt.Errorf("removing the stale socket: %w", err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return err
	}
	// The file mode is the socket's only access control.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("restricting the socket: %w", err)
	}
	// The listener unlinks the file when it closes.
	return s.serve(ctx, ln, s.handler)
}

// ServeTCP serves the API on addr until ctx is canceled; every request
// needs "Authorization: Bearer <token>", or the dashboard's session cookie
// (see ui.Logins).
func (s *Server) ServeTCP(ctx context.Context, addr, token string) error {
	if token == "" {
		return errors.New("serving on TCP needs a token")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.tcpAddr = ln.Addr().String()
	s.mu.Unlock()
	return s.serve(ctx, ln, s.logRequests(s.logins.Require(token, s.unauthorized, s.routes)))
}

// stopKey is the context key of the channel closed when the listener that
// took a request begins shutting down: long requests (follow, events, wait)
// watch it, because Shutdown waits for them otherwise.
type stopKey struct{}

// stopping returns the channel closed when the request's server stops (nil,
// never closed, when the handler is used without Serve).
func stopping(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stopKey{}).(chan struct{})
	return ch
}

// serve runs an http.Server on ln until ctx is canceled, then shuts it
// down: in-flight requests finish, streaming ones are ended.
func (s *Server) serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	stop := make(chan struct{})
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), stopKey{}, stop)
		},
		ConnContext: connOwner,
	}
	srv.RegisterOnShutdown(func() { close(stop) })
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	s.log.Info("serving the API", "addr", ln.Addr().String())
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
	}
	if serr := <-done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}

// route is one endpoint. The list in routes is the API; openapi_test.go
// checks it against docs/openapi.yaml.
type route struct {
	method, path string
	h            http.HandlerFunc
}

func (s *Server) routeList() []route {
	return []route{
		{"GET", "/v1/health", s.health},
		{"POST", "/v1/jobs", s.submit},
		{"GET", "/v1/jobs", s.listJobs},
		{"POST", "/v1/openjd/jobs", s.submitOpenJD},
		{"GET", "/v1/jobs/{id}", s.getJob},
		{"DELETE", "/v1/jobs/{id}", s.removeJob},
		{"GET", "/v1/jobs/{id}/tasks", s.listTasks},
		{"POST", "/v1/jobs/{ref}/{action}", s.control},
		{"POST", "/v1/jobs/{ref}/receive", s.receive},
		{"GET", "/v1/tasks/{ref}", s.getTask},
		{"GET", "/v1/tasks/{ref}/logs", s.logs},
		{"GET", "/v1/tasks/{ref}/results", s.results},
		{"GET", "/v1/wait", s.wait},
		{"GET", "/v1/events", s.events},
		{"GET", "/ui/live", s.uiLive},
		{"GET", "/v1/workers", s.workers},
		{"POST", "/v1/workers", s.enrollWorker},
		{"DELETE", "/v1/workers/{id}", s.revokeWorker},
		{"GET", "/v1/openapi.yaml", s.openAPI},
		{"POST", "/v1/ui/codes", s.uiCodes},
		{"GET", "/metrics", s.metrics},
	}
}

// allRoutes is the API and the dashboard.
func (s *Server) allRoutes() []route {
	out := s.routeList()
	for _, rt := range s.ui.Routes() {
		out = append(out, route{rt.Method, rt.Path, rt.Handler})
	}
	return out
}

func (s *Server) newMux() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.allRoutes() {
		mux.HandleFunc(rt.method+" "+rt.path, rt.h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// No route: let the mux decide between 404, 405 and a redirect,
		// and answer its 404 and 405 in JSON like every other error.
		rec := &headerRecorder{h: http.Header{}}
		mux.ServeHTTP(rec, r)
		switch rec.status {
		case http.StatusNotFound:
			s.writeError(w, r, &apiError{Status: http.StatusNotFound, Code: codeNotFound,
				Message: fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)}, noRef)
		case http.StatusMethodNotAllowed:
			w.Header().Set("Allow", rec.h.Get("Allow"))
			s.writeError(w, r, &apiError{Status: http.StatusMethodNotAllowed, Code: codeMethodNotAllowed,
				Message: fmt.Sprintf("method %s not allowed on %s (allowed: %s)", r.Method, r.URL.Path, rec.h.Get("Allow"))}, noRef)
		default:
			for k, v := range rec.h {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.status)
			_, _ = w.Write(rec.body)
		}
	})
}

// headerRecorder keeps the small answer the mux gives when no route matches.
type headerRecorder struct {
	h      http.Header
	status int
	body   []byte
}

func (r *headerRecorder) Header() http.Header { return r.h }
func (r *headerRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}

func (r *headerRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	r.body = append(r.body, b...)
	return len(b), nil
}

// logRequests logs one debug line per request.
func (s *Server) logRequests(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		s.log.DebugContext(r.Context(), "request", "method", r.Method, "path", r.URL.Path,
			"query", r.URL.RawQuery, "status", cmp.Or(sw.status, http.StatusOK), "bytes", sw.n,
			"duration", time.Since(start))
	})
}

// statusWriter records the status and size of an answer. Unwrap lets
// http.ResponseController reach the connection's Flush.
type statusWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// flushWriter writes to an answer and flushes after every write, for
// streams.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func newFlushWriter(w http.ResponseWriter) *flushWriter {
	return &flushWriter{w: w, rc: http.NewResponseController(w)}
}

func (f *flushWriter) Write(b []byte) (int, error) {
	n, err := f.w.Write(b)
	if err != nil {
		return n, err
	}
	return n, f.rc.Flush()
}
