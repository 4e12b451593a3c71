package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
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
	// Token is the secret clients authenticate with, unless User is set.
	// Defaults to a random token (see Server.ConnectConfig).
	Token string
	// User and Password, when User is set, replace token authentication.
	// Defaults to empty (token authentication).
	User     string
	Password string
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
	if c.Token == "" && c.User == "" {
		c.Token = randomToken()
	}
	return c
}

func (c *ServerConfig) validate() error {
	switch {
	case c.StoreDir == "":
		return errors.New("dispatch server: StoreDir is required")
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("dispatch server: Port %d is not between 0 and 65535", c.Port)
	case c.User != "" && c.Password == "":
		return errors.New("dispatch server: Password is required with User")
	case c.User != "" && c.Token != "":
		return errors.New("dispatch server: set Token or User, not both")
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

	mu sync.Mutex
	ns *natsserver.Server
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
		ServerName:    "berth",
		Host:          s.cfg.Host,
		Port:          port,
		DontListen:    s.cfg.DontListen,
		Authorization: s.cfg.Token,
		Username:      s.cfg.User,
		Password:      s.cfg.Password,
		JetStream:     true,
		StoreDir:      s.cfg.StoreDir,
		NoSigs:        true,
		NoLog:         s.cfg.Logger == nil,
	}
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
	s.ns = ns
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
		Token:     s.cfg.Token,
		User:      s.cfg.User,
		Password:  s.cfg.Password,
		InProcess: s,
	}
}
