package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
)

func TestWaitAny(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	quick := submitted(t, s.Berth("", "run", "-d", "--", "true"))
	slow := submitted(t, s.Berth("", "run", "-d", "--", "sleep", "30"))
	start := time.Now()
	r := s.Berth("", "wait", "--any", fmt.Sprint(slow), fmt.Sprint(quick))
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	require.Less(t, time.Since(start), 20*time.Second)
	r = s.Berth("", "wait", "--timeout", "300ms", fmt.Sprint(slow))
	require.Equal(t, 124, r.Code)
	require.Equal(t, 0, s.Berth("", "stop", fmt.Sprint(slow)).Code)
}

func TestLogsFollow(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	gate := filepath.Join(testenv.ShortTempDir(t), "gate")
	id := submitted(t, s.Berth("", "run", "-d", "--", "sh", "-c",
		fmt.Sprintf(`echo early; while [ ! -e %s ]; do sleep 0.05; done; echo late`, gate)))
	done := make(chan testenv.Result, 1)
	go func() { done <- s.Berth("", "logs", "-f", fmt.Sprint(id)) }()
	time.Sleep(300 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("logs -f returned before the job ended: %+v", r)
	default:
	}
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	select {
	case r := <-done:
		require.Equal(t, 0, r.Code, r.Stderr)
		require.Equal(t, "early\nlate\n", r.Stdout)
	case <-time.After(20 * time.Second):
		t.Fatal("logs -f did not end with the job")
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

func TestTCPNeedsToken(t *testing.T) {
	t.Parallel()
	addr := freePort(t)
	s := testenv.StartServer(t, "--listen", addr)
	token, err := os.ReadFile(s.Dir.Token())
	require.NoError(t, err)
	fi, err := os.Stat(s.Dir.Token())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	sock, err := os.Stat(s.Dir.Socket())
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), sock.Mode().Perm())

	// Another user's view: no data directory, only the address.
	other := testenv.ShortTempDir(t)
	run := func(env ...string) testenv.Result {
		return s.BerthEnv(context.Background(), append([]string{"BERTH_HOME=" + other, "BERTH_ADDR=" + addr}, env...), "ls")
	}
	r := run("BERTH_TOKEN=wrong")
	require.NotEqual(t, 0, r.Code)
	require.Contains(t, r.Stderr, "token")
	r = run("BERTH_TOKEN=" + strings.TrimSpace(string(token)))
	require.Equal(t, 0, r.Code, r.Stderr)
}

func TestWorkers(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t, "--slots", "3")
	var r testenv.Result
	require.Eventually(t, func() bool {
		r = s.Berth("", "workers", "--json")
		return r.Code == 0 && strings.Contains(r.Stdout, `"local"`)
	}, 10*time.Second, 50*time.Millisecond, r.Stdout+r.Stderr)
	require.Contains(t, r.Stdout, `"slots": 3`)
	require.Contains(t, r.Stdout, `"alive": true`)
}
