package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os/user"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
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

// TestContainerKept: with rm=false the container stays after the job ends,
// for inspection, until berth rm removes the job; by default it is removed.
func TestContainerKept(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	dc := testenv.RequireDocker(t)
	s := testenv.StartServer(t)
	ctx := context.Background()
	run := func(args ...string) (string, string) {
		id := fmt.Sprint(submitted(t, s.Berth("", append(append([]string{"run", "-d", "--image", image}, args...),
			"--", "sh", "-c", "echo kept > /mark; exit 3")...)))
		require.Equal(t, 1, s.Berth("", "wait", id).Code)
		ctr := taskOf(t, s, id).ContainerID
		require.NotEmpty(t, ctr)
		return id, ctr
	}
	gone := func(ctr string) func() bool {
		return func() bool {
			_, err := dc.ContainerInspect(ctx, ctr, client.ContainerInspectOptions{})
			return cerrdefs.IsNotFound(err)
		}
	}

	id, ctr := run("--ext", "rm=false")
	require.Eventually(t, func() bool {
		in, err := dc.ContainerInspect(ctx, ctr, client.ContainerInspectOptions{})
		require.NoError(t, err, "the container is kept")
		return in.Container.Name == "/berth-kept-"+id+".0.1"
	}, 30*time.Second, 50*time.Millisecond, "renamed once its end is recorded")
	in, err := dc.ContainerInspect(ctx, ctr, client.ContainerInspectOptions{})
	require.NoError(t, err)
	require.Equal(t, 3, in.Container.State.ExitCode)
	cp, err := dc.CopyFromContainer(ctx, ctr, client.CopyFromContainerOptions{SourcePath: "/mark"})
	require.NoError(t, err, "its file system can be inspected")
	cp.Content.Close()

	// A restart of the server and its worker leaves it alone.
	s.Stop()
	s.Start()
	_, err = dc.ContainerInspect(ctx, ctr, client.ContainerInspectOptions{})
	require.NoError(t, err, "still kept after a restart")

	r := s.Berth("", "rm", id)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.True(t, gone(ctr)(), "berth rm removes the kept container")

	_, ctr = run()
	require.Eventually(t, gone(ctr), 30*time.Second, 50*time.Millisecond, "removed by default")
}
