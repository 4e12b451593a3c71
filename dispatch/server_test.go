package dispatch

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"
)

// testServer starts an embedded server on a temporary store.
func testServer(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.StoreDir == "" {
		cfg.StoreDir = t.TempDir()
	}
	s, err := NewServer(cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start(t.Context()))
	t.Cleanup(s.Shutdown)
	return s
}

// testConn connects to s and declares the streams.
func testConn(t *testing.T, s *Server, name string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := Connect(ctx, s.ConnectConfig(name))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	require.NoError(t, EnsureStreams(ctx, c.JetStream()))
	return c
}

// testWorkerConn connects to s as worker id, with the server's own (full)
// permissions, and creates the consumers of the pools.
func testWorkerConn(t *testing.T, s *Server, id string, pools ...string) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	cfg := s.ConnectConfig(id)
	cfg.Worker = id
	c, err := Connect(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	require.NoError(t, EnsureStreams(ctx, c.JetStream()))
	for _, p := range pools {
		require.NoError(t, EnsureWorkConsumer(ctx, c.JetStream(), p))
	}
	return c
}

func TestNewServerValidates(t *testing.T) {
	t.Parallel()
	_, err := NewServer(ServerConfig{})
	require.ErrorContains(t, err, "StoreDir is required")
	_, err = NewServer(ServerConfig{StoreDir: t.TempDir(), Workers: []WorkerUser{{ID: "a.b", Pool: "default", NKey: "x"}}})
	require.ErrorContains(t, err, `worker ID "a.b"`)
	_, err = NewServer(ServerConfig{StoreDir: t.TempDir(), Port: 70000})
	require.ErrorContains(t, err, "Port 70000")
}

func TestServerRequiresAuth(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{})
	require.NotEmpty(t, s.ClientURL())

	cfg := s.ConnectConfig("t")
	require.NotEmpty(t, cfg.Password, "a random password by default")
	cfg.Password = "wrong"
	_, err := Connect(t.Context(), cfg)
	require.ErrorIs(t, err, nats.ErrAuthorization)
	cfg.User, cfg.Password = "", ""
	_, err = Connect(t.Context(), cfg)
	require.ErrorIs(t, err, nats.ErrAuthorization)

	_ = testConn(t, s, "t") // the right password works
}

func TestServerUserPassword(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{User: "berth", Password: "secret"})
	_ = testConn(t, s, "t")
	cfg := s.ConnectConfig("t")
	cfg.Password = "wrong"
	_, err := Connect(t.Context(), cfg)
	require.ErrorIs(t, err, nats.ErrAuthorization)
}

func TestServerDontListen(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{DontListen: true})
	require.Empty(t, s.ClientURL())
	c := testConn(t, s, "inproc")
	require.True(t, c.NATS().IsConnected())
}

func TestConnectWaitsForServer(t *testing.T) {
	t.Parallel()
	s, err := NewServer(ServerConfig{StoreDir: t.TempDir(), DontListen: true})
	require.NoError(t, err)
	t.Cleanup(s.Shutdown)

	done := make(chan error, 1)
	go func() {
		c, err := Connect(t.Context(), s.ConnectConfig("early"))
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	time.Sleep(100 * time.Millisecond) // Connect is retrying meanwhile
	require.NoError(t, s.Start(t.Context()))
	require.NoError(t, <-done)

	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	s.Shutdown()
	_, err = Connect(ctx, s.ConnectConfig("late"))
	require.ErrorContains(t, err, "gave up")
}
