package server

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	b := setup(t)
	good := b.srv.cfg
	for field, mutate := range map[string]func(*Config){
		"DataDir":   func(c *Config) { c.DataDir = "" },
		"Store":     func(c *Config) { c.Store = nil },
		"Scheduler": func(c *Config) { c.Scheduler = nil },
		"ServerID":  func(c *Config) { c.ServerID = "" },
	} {
		cfg := good
		mutate(&cfg)
		_, err := New(cfg)
		require.ErrorContains(t, err, field)
	}
	cfg := good
	cfg.Logger, cfg.Version = nil, ""
	s, err := New(cfg)
	require.NoError(t, err)
	require.Equal(t, VersionDefault, s.cfg.Version)
}

// unixClient is an HTTP client of a socket.
func unixClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

// serveUnix runs ServeUnix until the test ends and returns its result channel.
func serveUnix(t *testing.T, s *Server, ctx context.Context, path string) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.ServeUnix(ctx, path) }()
	c := unixClient(path)
	require.Eventually(t, func() bool {
		resp, err := c.Get("http://berth/v1/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 5*time.Second, 5*time.Millisecond)
	return done
}

func TestServeUnix(t *testing.T) {
	t.Parallel()
	b := setup(t)
	path := b.dir.Socket()
	// A stale socket file from a crashed server is replaced.
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := serveUnix(t, b.srv, ctx, path)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// No token needed on the socket.
	resp, err := unixClient(path).Get("http://berth/v1/jobs")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	// A job submitted on the socket is owned by the peer's user.
	resp, err = unixClient(path).Post("http://berth/v1/jobs", "application/json", strings.NewReader(`{"template":{"command":"x"}}`))
	require.NoError(t, err)
	var j job.Job
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&j))
	resp.Body.Close()
	me, err := user.Current()
	require.NoError(t, err)
	require.Equal(t, me.Username, j.Owner)

	// A second server refuses to take the socket over.
	err = b.srv.ServeUnix(context.Background(), path)
	require.EqualError(t, err, "another berth server is running at "+path)

	cancel()
	require.NoError(t, <-done)
	_, err = os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "the socket is removed on exit")

	// Not a socket: refused, left alone.
	require.NoError(t, os.WriteFile(path, []byte("x"), 0o600))
	require.ErrorContains(t, b.srv.ServeUnix(context.Background(), path), "not a socket")
}

// TestShutdown checks that cancelling Serve lets a plain request finish and
// ends a stream.
func TestShutdown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	path := filepath.Join(string(b.dir), "s.sock")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := serveUnix(t, b.srv, ctx, path)
	c := unixClient(path)

	resp, err := c.Get("http://berth/v1/tasks/1/logs?follow=true")
	require.NoError(t, err)
	defer resp.Body.Close()
	waitResp := make(chan int, 1)
	go func() {
		r, err := c.Get("http://berth/v1/wait?id=1")
		if err != nil {
			waitResp <- 0
			return
		}
		r.Body.Close()
		waitResp <- r.StatusCode
	}()
	require.Eventually(t, func() bool { return b.sched.subscribers() == 2 }, 5*time.Second, 5*time.Millisecond)

	cancel()
	_, err = io.ReadAll(resp.Body) // the stream ends
	require.NoError(t, err)
	require.Equal(t, http.StatusServiceUnavailable, <-waitResp)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("ServeUnix did not return")
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestServeTCPAuth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	token, err := EnsureToken(b.dir)
	require.NoError(t, err)
	require.Error(t, b.srv.ServeTCP(context.Background(), "127.0.0.1:0", ""), "a token is required")

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.srv.ServeTCP(ctx, addr, token) }()

	get := func(auth string) int {
		req, err := http.NewRequest("GET", "http://"+addr+"/v1/health", nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Eventually(t, func() bool { return get("") != 0 }, 5*time.Second, 5*time.Millisecond)
	require.Equal(t, http.StatusUnauthorized, get(""))
	require.Equal(t, http.StatusUnauthorized, get("Bearer wrong"))
	require.Equal(t, http.StatusUnauthorized, get(token))
	require.Equal(t, http.StatusUnauthorized, get("Bearer "+token+"x"))
	require.Equal(t, http.StatusOK, get("Bearer "+token))

	cancel()
	require.NoError(t, <-done)
}

func TestAuthErrorBody(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.ts.Config.Handler = b.srv.requireToken("sekrit", b.srv.Handler())
	b.requireError(t, "GET", "/v1/health", "", http.StatusUnauthorized, "unauthorized", "", "token")
}

func TestEnsureToken(t *testing.T) {
	t.Parallel()
	dir := datadir.Dir(filepath.Join(t.TempDir(), "home"))
	tok, err := EnsureToken(dir)
	require.NoError(t, err)
	raw, err := hex.DecodeString(tok)
	require.NoError(t, err)
	require.Len(t, raw, 32)
	fi, err := os.Stat(dir.Token())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	again, err := EnsureToken(dir)
	require.NoError(t, err)
	require.Equal(t, tok, again, "read back, not made anew")

	require.NoError(t, os.Chmod(dir.Token(), 0o644))
	_, err = EnsureToken(dir)
	require.ErrorContains(t, err, "chmod 600")

	require.NoError(t, os.WriteFile(dir.Token(), nil, 0o600))
	require.NoError(t, os.Chmod(dir.Token(), 0o600))
	_, err = EnsureToken(dir)
	require.ErrorContains(t, err, "empty")

	// Many first starts at once agree on one token.
	dir2 := datadir.Dir(t.TempDir())
	toks := make(chan string, 8)
	for range 8 {
		go func() {
			tok, err := EnsureToken(dir2)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Error(err)
			}
			toks <- tok
		}()
	}
	first := <-toks
	for range 7 {
		require.Equal(t, first, <-toks)
	}
}
