package e2e

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// TestContainerPortsAndHostname publishes a bare port: the engine picks
// the host port, which show and its JSON give, and a client reaches the
// container's server there. The container's host name is recorded too.
func TestContainerPortsAndHostname(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	s := testenv.StartServer(t)
	id := fmt.Sprint(submitted(t, s.Berth("", "run", "-d", "--image", image, "--publish", "80", "--",
		"sh", "-c", "hostname; echo hello from the container | nc -l -p 80")))
	var tk *job.Task
	require.Eventually(t, func() bool {
		tk = taskOf(t, s, id)
		return tk.State == job.Running && tk.ContainerID != "" && s.Berth("", "logs", id).Stdout != ""
	}, 60*time.Second, 50*time.Millisecond)
	require.NotEmpty(t, tk.ContainerID)
	require.Equal(t, tk.ContainerID[:12], tk.Hostname, "the engine's host name: the ID's first 12 digits")
	require.Equal(t, tk.Hostname+"\n", s.Berth("", "logs", id).Stdout, "what the container calls itself")

	require.NotEmpty(t, tk.Ports)
	var hostPort uint16
	for _, p := range tk.Ports {
		require.Equal(t, uint16(80), p.Port)
		require.Equal(t, "tcp", p.Proto)
		require.NotZero(t, p.HostPort, "the port the engine picked")
		hostPort = p.HostPort
	}
	show := s.Berth("", "show", id)
	require.Equal(t, 0, show.Code, show.Stderr)
	require.Contains(t, show.Stdout, "Hostname")
	require.Contains(t, show.Stdout, fmt.Sprintf("80/tcp -> %s", net.JoinHostPort(tk.Ports[0].HostIP, strconv.Itoa(int(tk.Ports[0].HostPort)))))
	require.Contains(t, show.Stdout, tk.Hostname)

	// Connect to the shown port; nc may take a moment to listen.
	var got string
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(hostPort))), 2*time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		got = string(b)
		return strings.Contains(got, "hello")
	}, 30*time.Second, 200*time.Millisecond)
	require.Equal(t, "hello from the container\n", got)
	r := s.Berth("", "wait", "--timeout", "30s", id)
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	require.NotEmpty(t, taskOf(t, s, id).Ports, "kept after the end")
}
