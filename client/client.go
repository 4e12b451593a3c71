// Package client is the Go client of berth's HTTP API (docs/api.md).
//
// It is what the berth command line uses, and it is public: programs may
// submit and control jobs with it. It deliberately imports nothing heavy
// (no NATS, SQLite or Docker), only package job and the standard library,
// so the CLI starts fast; the types of the API that live in heavier
// packages (server.WorkerStatus, store.Transition) are mirrored here.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/internal/datadir"
)

// Client talks to one berth server. It is safe for concurrent use.
type Client struct {
	// addr is the address as the user gave it (or the socket path), for
	// error messages.
	addr  string
	base  string // "http://berth" for a socket, else the server's URL
	token string
	hc    *http.Client
	// startWait is how long a request waits for a starting server; notice
	// is told once when a request begins to wait.
	startWait time.Duration
	notice    func(string)
}

// Option configures New.
type Option func(*Client)

// WithToken sets the bearer token sent with every request. A TCP address
// needs one; the unix socket does not.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient replaces the HTTP client. Its transport must reach the
// address given to New; this is meant for tests and custom TLS.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithStartWait sets how long a request waits for a server that is
// starting (recovering its jobs after a restart) before it fails with a
// *NoServerError whose Starting is set. Defaults to StartWaitDefault; 0 fails
// at once.
func WithStartWait(d time.Duration) Option { return func(c *Client) { c.startWait = d } }

// WithNotice sets a function told, once per request, that the request waits
// for a starting server (the CLI prints it on stderr). Defaults to none.
func WithNotice(f func(msg string)) Option { return func(c *Client) { c.notice = f } }

// StartWaitDefault is how long a request waits for a starting server.
const StartWaitDefault = 2 * time.Minute

// New returns a client of the server at addr: "unix:///path/berth.sock", a
// bare socket path ("/path/berth.sock", "./berth.sock"), or a TCP address
// ("http://host:port", "https://host:port", "host:port"), which needs
// WithToken.
func New(addr string, opts ...Option) (*Client, error) {
	c := &Client{addr: addr, startWait: StartWaitDefault}
	for _, o := range opts {
		o(c)
	}
	socket, base, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	if socket != "" {
		c.addr, c.base = socket, "http://berth"
		if c.hc == nil {
			var d net.Dialer
			tr := &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return d.DialContext(ctx, "unix", socket)
				},
			}
			c.hc = &http.Client{Transport: tr}
		}
		return c, nil
	}
	if c.token == "" {
		return nil, fmt.Errorf("the TCP address %s needs a token: set BERTH_TOKEN", addr)
	}
	c.base = base
	if c.hc == nil {
		// No overall timeout: following logs and events, and waiting,
		// keep a response open as long as it takes; contexts bound calls.
		c.hc = &http.Client{}
	}
	return c, nil
}

// parseAddr returns either a socket path or a base URL.
func parseAddr(addr string) (socket, base string, err error) {
	switch {
	case addr == "":
		return "", "", errors.New("empty server address")
	case strings.HasPrefix(addr, "unix://"):
		p := strings.TrimPrefix(addr, "unix://")
		if p == "" {
			return "", "", fmt.Errorf("invalid server address %q: want unix:///path/to/berth.sock", addr)
		}
		return p, "", nil
	case strings.Contains(addr, "://"):
		u, err := url.Parse(addr)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return "", "", fmt.Errorf("invalid server address %q: want unix:///path, a socket path, http://host:port or host:port", addr)
		}
		return "", strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
	case strings.ContainsRune(addr, '/'):
		return addr, "", nil
	}
	// host:port if the part after the last colon is a port, else a socket
	// file in the current directory.
	if _, port, err := net.SplitHostPort(addr); err == nil && port != "" {
		return "", "http://" + addr, nil
	}
	return addr, "", nil
}

// FromEnv returns a client of the server named by $BERTH_ADDR, or else of
// the socket in the data directory ($BERTH_HOME, see datadir.Default). The
// token comes from $BERTH_TOKEN, or else from the data directory's token
// file when the address is TCP.
func FromEnv(opts ...Option) (*Client, error) {
	dir, dirErr := datadir.Default()
	addr := os.Getenv("BERTH_ADDR")
	if addr == "" {
		if dirErr != nil {
			return nil, dirErr
		}
		addr = dir.Socket()
	}
	token := os.Getenv("BERTH_TOKEN")
	if socket, _, err := parseAddr(addr); err == nil && socket == "" && token == "" && dirErr == nil {
		if b, err := os.ReadFile(dir.Token()); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	if token != "" {
		opts = append([]Option{WithToken(token)}, opts...)
	}
	return New(addr, opts...)
}

// Addr returns the server's address as given (the path, for a socket).
func (c *Client) Addr() string { return c.addr }

// request builds a request of path (under /v1) with query q and a JSON body.
func (c *Client) request(ctx context.Context, method, path string, q url.Values, body any) (*http.Request, error) {
	u := c.base + "/v1" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// send sends a request and returns the response if its status is 2xx; any
// other status is decoded into an *APIError. A server that is starting
// (its API answers "starting", or its socket is not there yet though it
// holds its data directory's lock) is asked again until it is ready or
// the client's start wait has passed.
func (c *Client) send(req *http.Request) (*http.Response, error) {
	var since time.Time
	delay := 50 * time.Millisecond
	for {
		resp, err := c.hc.Do(req)
		if err == nil && resp.StatusCode/100 == 2 {
			return resp, nil
		}
		if err != nil {
			err = c.connError(err)
		} else {
			err = decodeError(resp)
			resp.Body.Close()
		}
		if !c.starting(err) {
			return nil, err
		}
		if since.IsZero() {
			since = time.Now()
			if c.notice != nil && c.startWait > 0 {
				c.notice("berth server at " + c.addr + " is starting; waiting for it")
			}
		}
		if time.Since(since) >= c.startWait || (req.Body != nil && req.GetBody == nil) {
			return nil, &NoServerError{Addr: c.addr, Starting: true, Err: err}
		}
		select {
		case <-req.Context().Done():
			return nil, &NoServerError{Addr: c.addr, Starting: true, Err: req.Context().Err()}
		case <-time.After(delay):
		}
		delay = min(delay*2, time.Second)
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, gerr
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// starting reports whether err says the server is starting: its answer, or
// no answer on the socket of a data directory whose server lock is held.
func (c *Client) starting(err error) bool {
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code == api.CodeStarting
	}
	var ns *NoServerError
	if !errors.As(err, &ns) || c.base != "http://berth" || filepath.Base(c.addr) != "berth.sock" {
		return false
	}
	return datadir.Dir(filepath.Dir(c.addr)).ServerRunning()
}

// do sends a request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	req, err := c.request(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	resp, err := c.send(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			return &APIError{Status: resp.StatusCode, Code: api.CodeInternal, Message: notBerth(resp), Foreign: true}
		}
		return fmt.Errorf("reading the answer to %s %s: %w", method, req.URL.Path, err)
	}
	return nil
}
