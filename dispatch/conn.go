package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ConnectConfig says how to reach NATS.
type ConnectConfig struct {
	// URLs are the NATS servers to try. Defaults to nats.DefaultURL, unless
	// InProcess is set.
	URLs []string
	// Token authenticates with a token. Defaults to none.
	Token string
	// User and Password authenticate with a user and password. Defaults to none.
	User     string
	Password string
	// NKeySeedFile authenticates with the NKey whose seed the file holds.
	// Defaults to none.
	NKeySeedFile string
	// CredsFile authenticates with a user JWT and NKey (a .creds file).
	// Defaults to none.
	CredsFile string
	// InProcess, when set, connects to an embedded server in this process
	// (such as *Server) instead of URLs. Defaults to nil.
	InProcess nats.InProcessConnProvider
	// Worker is the identity of a worker's connection: it sends on the
	// worker's own subjects and takes replies on its own inbox, which its
	// NATS permissions (WorkerPermissions) allow and nothing more. Defaults
	// to none: a server's connection.
	Worker string
	// Name names the connection in the server's monitoring. Defaults to "berth".
	Name string
	// Logger receives connection changes (disconnected, reconnected) and
	// asynchronous errors. Defaults to discarding them.
	Logger *slog.Logger
}

// Connection tuning: reconnect forever, soon, with jitter so a fleet does not
// reconnect in lockstep; notice a dead server within a few pings.
const (
	reconnectWait   = 250 * time.Millisecond
	reconnectJitter = 250 * time.Millisecond
	pingInterval    = 5 * time.Second
	maxPingsOut     = 3
	dialTimeout     = 2 * time.Second
	// reconnectBufSize holds what is published while disconnected (events,
	// heartbeats), delivered on reconnect.
	reconnectBufSize = 8 << 20
)

// Conn is a connection to NATS with JetStream, as both the server and
// workers use it. It reconnects forever; requests made while it is
// disconnected are buffered and sent on reconnect.
type Conn struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	log    *slog.Logger
	worker string

	mu          sync.Mutex
	onReconnect map[int]func()
	nextID      int
}

// Connect connects to NATS. If no server answers yet it keeps trying until
// ctx is done; it fails at once on bad credentials.
func Connect(ctx context.Context, cfg ConnectConfig) (*Conn, error) {
	if cfg.Name == "" {
		cfg.Name = "berth"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Conn{log: log, onReconnect: map[int]func(){}, worker: cfg.Worker}
	if cfg.Worker != "" {
		if err := CheckWorkerID(cfg.Worker); err != nil {
			return nil, err
		}
	}
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitter),
		nats.ReconnectBufSize(reconnectBufSize),
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOut),
		nats.Timeout(dialTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("NATS connection lost", "error", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("NATS connection restored", "url", nc.ConnectedUrlRedacted())
			c.reconnected()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			if c.worker != "" && errors.Is(err, nats.ErrPermissionViolation) {
				log.Error("NATS refused the worker: its credentials are not those of worker "+c.worker+
					" in this pool (berth workers add "+c.worker+" --pool POOL makes them)", "subject", subj, "error", err)
				return
			}
			log.Error("NATS error", "subject", subj, "error", err)
		}),
	}
	if cfg.Token != "" {
		opts = append(opts, nats.Token(cfg.Token))
	}
	if cfg.User != "" {
		opts = append(opts, nats.UserInfo(cfg.User, cfg.Password))
	}
	if cfg.NKeySeedFile != "" {
		o, err := nats.NkeyOptionFromSeed(cfg.NKeySeedFile)
		if err != nil {
			return nil, fmt.Errorf("reading the NKey seed %s: %w", cfg.NKeySeedFile, err)
		}
		opts = append(opts, o)
	}
	if cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(cfg.CredsFile))
	}
	if cfg.Worker != "" {
		opts = append(opts, nats.CustomInboxPrefix(InboxPrefix(cfg.Worker)))
	}
	if cfg.InProcess != nil {
		opts = append(opts, nats.InProcessServer(cfg.InProcess))
	}
	url := strings.Join(cfg.URLs, ",")
	if url == "" {
		url = nats.DefaultURL
	}
	b := newBackoff()
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			c.nc = nc
			break
		}
		if isAuthError(err) {
			return nil, fmt.Errorf("connecting to NATS at %s: %w", url, err)
		}
		log.Warn("cannot connect to NATS yet, retrying", "url", url, "error", err)
		if sleepCtx(ctx, b.next()) != nil {
			return nil, fmt.Errorf("connecting to NATS at %s: %w (gave up: %w)", url, err, ctx.Err())
		}
	}
	js, err := jetstream.New(c.nc)
	if err != nil {
		c.nc.Close()
		return nil, fmt.Errorf("opening JetStream: %w", err)
	}
	c.js = js
	return c, nil
}

func isAuthError(err error) bool {
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired)
}

// Worker returns the connection's worker identity, empty for a server's.
func (c *Conn) Worker() string { return c.worker }

// NATS returns the underlying connection.
func (c *Conn) NATS() *nats.Conn { return c.nc }

// JetStream returns the JetStream context of the connection.
func (c *Conn) JetStream() jetstream.JetStream { return c.js }

// Close closes the connection; buffered messages not yet sent are lost.
func (c *Conn) Close() { c.nc.Close() }

// OnReconnect registers f to be called, on its own goroutine, each time the
// connection is restored after a loss. The returned func unregisters it.
func (c *Conn) OnReconnect(f func()) (remove func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.nextID
	c.nextID++
	c.onReconnect[id] = f
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.onReconnect, id)
	}
}

func (c *Conn) reconnected() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.onReconnect {
		go f()
	}
}
