package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/berth-run/berth/dispatch"
)

// startNATS starts the embedded NATS server, or with cfg.NATSURLs reaches an
// external one, and connects the server to it. It returns the embedded
// server (nil if external) and what nats.json says to local workers.
func startNATS(ctx context.Context, cfg ServeConfig, reg *registry, log *slog.Logger) (*dispatch.Conn, *dispatch.Server, natsInfo, error) {
	dir := cfg.DataDir
	if len(cfg.NATSURLs) > 0 {
		info := natsInfo{URL: strings.Join(cfg.NATSURLs, ","), Token: cfg.NATSToken, NKeyFile: cfg.NATSNKeyFile, CredsFile: cfg.NATSCredsFile}
		if err := checkNATSAuth(cfg.NATSURLs, info); err != nil {
			return nil, nil, info, err
		}
		conn, err := dispatch.Connect(ctx, info.connectConfig("berth-server", "", log.With("component", "nats")))
		if err != nil {
			return nil, nil, info, err
		}
		return conn, nil, info, nil
	}

	if cfg.NATSToken != "" {
		return nil, nil, natsInfo{}, errors.New("a NATS token is for an external NATS (--nats): the embedded NATS gives each worker an identity of its own (berth workers add)")
	}
	info := readNATSInfo(dir)
	// The local worker connects as itself.
	info.Token, info.CredsFile, info.NKeyFile = "", "", dir.WorkerIdentity()
	// The port of the last start is kept, so that workers reconnect to a
	// restarted server, unless --nats-listen names one.
	host, port, fixed := dispatch.ServerHostDefault, info.Port, false
	if cfg.NATSListen != "" {
		h, p, err := net.SplitHostPort(cfg.NATSListen)
		if err != nil {
			return nil, nil, info, fmt.Errorf("--nats-listen %q: want HOST:PORT: %w", cfg.NATSListen, err)
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 65535 {
			return nil, nil, info, fmt.Errorf("--nats-listen %q: bad port %q", cfg.NATSListen, p)
		}
		host = cmp.Or(h, "0.0.0.0")
		if n != 0 {
			port, fixed = n, true
		}
	}
	start := func(port int) (*dispatch.Server, error) {
		ns, err := dispatch.NewServer(dispatch.ServerConfig{StoreDir: dir.NATS(), Host: host, Port: port, Workers: reg.users(), Logger: log.With("component", "nats")})
		if err != nil {
			return nil, err
		}
		return ns, ns.Start(ctx)
	}
	ns, err := start(port)
	if err != nil && !fixed && port != 0 {
		log.Warn("NATS port taken, choosing another", "port", port, "err", err)
		ns, err = start(0)
	}
	if err != nil {
		return nil, nil, info, fmt.Errorf("starting NATS: %w", err)
	}
	info.URL = ns.ClientURL()
	if u, err := url.Parse(info.URL); err == nil {
		info.Port, _ = strconv.Atoi(u.Port())
	}
	// No shared secret is left for workers: each has its own identity.
	if err := os.Remove(dir.NATSToken()); err == nil {
		log.Warn("removed the NATS token of an earlier version: enrol each worker (berth workers add)")
	}
	reg.ns = ns
	conn, err := dispatch.Connect(ctx, ns.InProcessConfig("berth-server"))
	if err != nil {
		ns.Shutdown()
		return nil, nil, info, fmt.Errorf("connecting to NATS: %w", err)
	}
	return conn, ns, info, nil
}

// checkNATSAuth refuses to talk to a NATS beyond loopback without
// credentials.
func checkNATSAuth(urls []string, info natsInfo) error {
	if info.Token != "" || info.NKeyFile != "" || info.CredsFile != "" {
		return nil
	}
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("NATS URL %q: want nats://HOST:PORT", raw)
		}
		if u.User != nil {
			continue // user:password@ in the URL
		}
		if !isLoopback(u.Hostname()) {
			return errors.New("NATS at " + u.Host + " is not on loopback: authenticate with a token (--nats-token-file or $BERTH_NATS_TOKEN), an NKey (--nats-nkey) or a creds file (--nats-creds)")
		}
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
