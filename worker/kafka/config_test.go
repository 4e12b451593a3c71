package kafka

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDockerHostURL: the original's docker-java form unix:/path is taken
// besides Docker's own; anything else is refused with a message.
func TestDockerHostURL(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                             "",
		"unix:/var/run/docker.sock":    "unix:///var/run/docker.sock",
		"unix:///var/run/docker.sock":  "unix:///var/run/docker.sock",
		"tcp://localhost:2376":         "tcp://localhost:2376",
		"tcp://10.0.0.1:2375":          "tcp://10.0.0.1:2375",
		"https://docker.example:2376":  "https://docker.example:2376",
		"unix:///run/user/1000/d.sock": "unix:///run/user/1000/d.sock",
	} {
		got, err := DockerHostURL(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"/var/run/docker.sock", "unix:var/run/docker.sock", "unix://var/run/docker.sock",
		"tcp:localhost:2376", "tcp://", "ssh://me@host", "npipe:////./pipe/docker_engine"} {
		_, err := DockerHostURL(in)
		require.ErrorContains(t, err, "docker host", in)
	}
	_, err := New(Config{Brokers: []string{"k:1"}, Sandbox: &Sandbox{Name: "s"}, StateDir: t.TempDir(), DockerHost: "unix:docker.sock"})
	require.ErrorContains(t, err, `docker host "unix:docker.sock"`)
	_, err = New(Config{Brokers: []string{"k:1"}, Sandbox: &Sandbox{Name: "s"}, StateDir: t.TempDir(),
		DockerHost: "unix:/var/run/docker.sock", DockerCertPath: "/certs"})
	require.ErrorContains(t, err, "TLS needs a tcp:// docker host")
}

// TestDockerHostForms: a worker given the engine's socket in the
// original's form (unix:/path) runs jobs on it.
func TestDockerHostForms(t *testing.T) {
	t.Parallel()
	tb := setup(t, 1)
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		p, ok := strings.CutPrefix(h, "unix://")
		if !ok {
			t.Skipf("the engine is not on a unix socket: DOCKER_HOST=%s", h)
		}
		sock = p
	}
	cfg := tb.cfg
	cfg.DockerHost = "unix:" + sock
	tb.start(t, cfg)
	id := newJobID()
	tb.produce(t, id, pendingJob(id, "echo hello"))
	f := tb.finishedFor(t, id, 30*time.Second)
	require.Equal(t, FinishedSucceeded, f.ScriptResults.FinishedWith, f.ScriptResults.Stderr)
	require.Equal(t, "hello\n", f.ScriptResults.Stdout)
}
