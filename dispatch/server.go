package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// ServerConfig configures the embedded NATS server.
type ServerConfig struct {
	// StoreDir is the directory of JetStream's file store. Required.
	StoreDir string
	// Host is the address to listen on. Defaults to ServerHostDefault.
	Host string
	// Port is the port to listen on; 0 picks a free one, which the Server
	// then keeps, so a Start after a Shutdown listens on the same port.
	// Defaults to 0.
	Port int
	// DontListen makes the server accept only in-process connections (the
	// Server is a nats.InProcessConnProvider; see Server.ConnectConfig).
	// Defaults to false.
	DontListen bool
	// User and Password authenticate the server's own connections, which
	// may do anything. Defaults to "berth-server" and a random password
	// (see Server.ConnectConfig).
	User     string
	Password string
	// Workers are the worker identities allowed in, each with exactly its
	// own permissions (WorkerPermissions). Change them with SetWorkers.
	// Defaults to none.
	Workers []WorkerUser
	// Logger receives the NATS server's own log lines. Defaults to none:
	// the NATS server logs nothing.
	Logger *slog.Logger
	// ReadyTimeout bounds the wait for the server to accept connections in
	// Start. Defaults to ServerReadyTimeoutDefault.
	ReadyTimeout time.Duration
}

// Defaults of ServerConfig.
const (
	ServerHostDefault         = "127.0.0.1"
	ServerReadyTimeoutDefault = 10 * time.Second
)

// WithDefaults returns a copy of c with defaults filled in. The random
// token is drawn here, so call it once.
func (c ServerConfig) WithDefaults() ServerConfig {
	if c.Host == "" {
		c.Host = ServerHostDefault
	}
	if c.ReadyTimeout <= 0 {
		c.ReadyTimeout = ServerReadyTimeoutDefault
	}
	if c.User == "" {
		c.User = ServerUserDefault
	}
	if c.Password == "" {
		c.Password = randomToken()
	}
	return c
}

// ServerUserDefault is the NATS user of the server's own connections.
const ServerUserDefault = "berth-server"

// WorkerUser is a worker identity on the embedded NATS server: the worker
// authenticates with the NKey whose public key is NKey, and may act only as
// worker ID of pool Pool.
type WorkerUser struct {
	ID   string `json:"id"`
	Pool string `json:"pool"`
	NKey string `json:"nkey"`
}

func (u WorkerUser) validate() error {
	if err := CheckWorkerID(u.ID); err != nil {
		return err
	}
	if err := checkPool(u.Pool); err != nil {
		return fmt.Errorf("worker %s: %w", u.ID, err)
	}
	if !nkeys.IsValidPublicUserKey(u.NKey) {
		return fmt.Errorf("worker %s: %q is not an NKey user public key", u.ID, u.NKey)
	}
	return nil
}

func (c *ServerConfig) validate() error {
	switch {
	case c.StoreDir == "":
		return errors.New("dispatch server: StoreDir is required")
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("dispatch server: Port %d is not between 0 and 65535", c.Port)
	}
	for _, u := range c.Workers {
		if err := u.validate(); err != nil {
			return fmt.Errorf("dispatch server: %w", err)
		}
	}
	return nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}

// Server is the embedded NATS server of `berth serve`, with JetStream on a
// file store. It can be started again after Shutdown, on the same store and
// port: clients reconnect and find their streams and consumers again.
type Server struct {
	cfg ServerConfig

	mu   sync.Mutex
	ns   *natsserver.Server
	opts *natsserver.Options // what ns was started with
}

// NewServer checks cfg and returns a server that is not started yet.
func NewServer(cfg ServerConfig) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Server{cfg: cfg}, nil
}

// Start starts the server and returns once it accepts connections.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ns != nil {
		return errors.New("dispatch server: already started")
	}
	port := s.cfg.Port
	if port == 0 {
		port = natsserver.RANDOM_PORT
	}
	opts := &natsserver.Options{
		ServerName: "berth",
		Host:       s.cfg.Host,
		Port:       port,
		DontListen: s.cfg.DontListen,
		JetStream:  true,
		StoreDir:   s.cfg.StoreDir,
		NoSigs:     true,
		NoLog:      s.cfg.Logger == nil,
		// An OpenJD job's templates (up to job.MaxOpenJDBytes) travel to a
		// worker in one reply.
		MaxPayload: MaxPayload,
	}
	s.setAuth(opts)
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		return fmt.Errorf("dispatch server: %w", err)
	}
	if s.cfg.Logger != nil {
		ns.SetLoggerV2(&serverLogger{l: s.cfg.Logger}, false, false, false)
	}
	ns.Start()
	wait := s.cfg.ReadyTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < wait {
		wait = time.Until(d)
	}
	if !ns.ReadyForConnections(wait) {
		ns.Shutdown()
		return fmt.Errorf("dispatch server: not ready to accept connections after %s", wait)
	}
	if err := ctx.Err(); err != nil {
		ns.Shutdown()
		return err
	}
	if !s.cfg.DontListen && s.cfg.Port == 0 {
		if a, ok := ns.Addr().(*net.TCPAddr); ok {
			s.cfg.Port = a.Port // keep it for a restart
		}
	}
	s.ns, s.opts = ns, opts
	return nil
}

// setAuth puts the server's user and the worker identities in opts.
func (s *Server) setAuth(opts *natsserver.Options) {
	opts.Users = []*natsserver.User{{Username: s.cfg.User, Password: s.cfg.Password}}
	opts.Nkeys = make([]*natsserver.NkeyUser, len(s.cfg.Workers))
	for i, u := range s.cfg.Workers {
		p := WorkerPermissions(u.ID, u.Pool)
		opts.Nkeys[i] = &natsserver.NkeyUser{Nkey: u.NKey, Permissions: &natsserver.Permissions{
			Publish:   &natsserver.SubjectPermission{Allow: p.Publish},
			Subscribe: &natsserver.SubjectPermission{Allow: p.Subscribe},
			Response:  &natsserver.ResponsePermission{MaxMsgs: 1, Expires: time.Minute},
		}}
	}
}

// SetWorkers replaces the worker identities allowed in. On a running server
// it takes effect at once: a removed worker's connection is closed.
func (s *Server) SetWorkers(workers []WorkerUser) error {
	for _, u := range workers {
		if err := u.validate(); err != nil {
			return fmt.Errorf("dispatch server: %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg.Workers = slices.Clone(workers)
	if s.ns == nil {
		return nil
	}
	opts := s.opts.Clone()
	s.setAuth(opts)
	if err := s.ns.ReloadOptions(opts); err != nil {
		return fmt.Errorf("dispatch server: reloading its users: %w", err)
	}
	return nil
}

// Shutdown stops the server and waits until it has stopped. It does nothing
// if the server is not running.
func (s *Server) Shutdown() {
	s.mu.Lock()
	ns := s.ns
	s.ns = nil
	s.mu.Unlock()
	if ns != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
	}
}

// ClientURL returns the URL clients connect to, "nats://host:port"; empty
// when the server does not listen. After Start it names the port in use.
func (s *Server) ClientURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.DontListen || s.cfg.Port == 0 {
		return ""
	}
	return "nats://" + net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
}

// InProcessConn returns a connection to the running server without a
// network; it makes Server a nats.InProcessConnProvider, which keeps working
// across a Shutdown and Start.
func (s *Server) InProcessConn() (net.Conn, error) {
	s.mu.Lock()
	ns := s.ns
	s.mu.Unlock()
	if ns == nil {
		return nil, errors.New("dispatch server is not running")
	}
	return ns.InProcessConn()
}

// ConnectConfig returns what a client of this server needs to connect:
// its URL or, if it does not listen, an in-process connection, and its
// credentials.
func (s *Server) ConnectConfig(name string) ConnectConfig {
	c := s.InProcessConfig(name)
	if u := s.ClientURL(); !s.cfg.DontListen && u != "" {
		c.InProcess, c.URLs = nil, []string{u}
	}
	return c
}

// InProcessConfig is ConnectConfig for a client in this process, even when
// the server listens: a message then costs no system calls on a loopback
// socket (6% of berth serve's CPU when it runs many short tasks).
func (s *Server) InProcessConfig(name string) ConnectConfig {
	return ConnectConfig{
		Name:      name,
		User:      s.cfg.User,
		Password:  s.cfg.Password,
		InProcess: s,
	}
}
