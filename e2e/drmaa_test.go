package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/user"
	"testing"
	"time"

	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// TestJobOwner: a job records the user who submitted it (DRMAA2's
// jobOwner), shown by berth show.
func TestJobOwner(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	me, err := user.Current()
	require.NoError(t, err)
	id := submitted(t, s.Berth("", "run", "-d", "--", "true"))
	m := showJSON(t, s, fmt.Sprint(id))
	require.Equal(t, me.Username, m["job"].(map[string]any)["owner"])
	r := s.Berth("", "show", fmt.Sprint(id))
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Regexp(t, `(?m)^Owner:\s+`+me.Username+`$`, r.Stdout)
}

// TestContainerPublish: --publish (the exposedPorts extension) publishes as
// docker run -p does: HOSTIP:HOSTPORT:PORT on that address and port, a bare
// PORT on a host port the engine picks.
func TestContainerPublish(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	dc := testenv.RequireDocker(t)
	s := testenv.StartServer(t)
	ctx := context.Background()
	fixed := freePort(t) // 127.0.0.1:N
	web := `mkdir -p /tmp/w && echo hello > /tmp/w/index.html && { httpd -f -p 80 -h /tmp/w & exec httpd -f -p 81 -h /tmp/w; }`
	id := fmt.Sprint(submitted(t, s.Berth("", "run", "-d", "--image", image, "--publish", fixed+":80", "-p", "81",
		"--", "sh", "-c", web)))
	var ctr string
	require.Eventually(t, func() bool {
		tk := taskOf(t, s, id)
		ctr = tk.ContainerID
		return tk.State == job.Running && ctr != ""
	}, 30*time.Second, 50*time.Millisecond)
	// The engine picks the host port of the bare one.
	var eph []network.PortBinding
	require.Eventually(t, func() bool {
		in, err := dc.ContainerInspect(ctx, ctr, client.ContainerInspectOptions{})
		require.NoError(t, err)
		eph = in.Container.NetworkSettings.Ports[network.MustParsePort("81/tcp")]
		return len(eph) > 0
	}, 30*time.Second, 100*time.Millisecond)
	require.NotEqual(t, "", eph[0].HostPort)
	get := func(addr string) func() bool {
		return func() bool {
			resp, err := http.Get("http://" + addr + "/")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return string(b) == "hello\n"
		}
	}
	require.Eventually(t, get(fixed), 30*time.Second, 100*time.Millisecond, "published on %s", fixed)
	require.Eventually(t, get("127.0.0.1:"+eph[0].HostPort), 30*time.Second, 100*time.Millisecond, "published on an ephemeral port")
	require.Equal(t, 0, s.Berth("", "stop", id).Code)
	s.Berth("", "wait", id)
}
