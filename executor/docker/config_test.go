package docker

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
)

// testSpec is the spec of a task with the given extensions, translated as
// the worker does (executor.ContainerOf).
func testSpec(t testing.TB, ext map[string]string) *executor.Spec {
	s, err := testSpecErr(ext)
	require.NoError(t, err)
	return s
}

func testSpecErr(ext map[string]string) (*executor.Spec, error) {
	c, err := executor.ContainerOf(&job.Template{Image: "img:1", Extensions: ext})
	if err != nil {
		return nil, err
	}
	return &executor.Spec{
		ID: "t1", Command: "/bin/echo", Args: []string{"a", "b"}, Env: []string{"A=1", "PATH=/bin"},
		WorkDir: "/work", Stdout: "/tmp/o", Stderr: "/tmp/e", Container: c,
	}, nil
}

// build translates the extensions and maps the task to a container.
func build(ext map[string]string, cfg *Config) (*containerSpec, error) {
	s, err := testSpecErr(ext)
	if err != nil {
		return nil, err
	}
	return buildContainer(s, cfg)
}

func testConfig() *Config {
	c, _ := Config{Instance: "w1"}.WithDefaults()
	return &c
}

// TestBuildContainerDefaults checks the template fields and the defaults,
// without an engine.
func TestBuildContainerDefaults(t *testing.T) {
	t.Parallel()
	cs, err := buildContainer(testSpec(t, nil), testConfig())
	require.NoError(t, err)
	require.Equal(t, []string{"/bin/echo", "a", "b"}, []string(cs.Config.Cmd))
	require.Equal(t, "img:1", cs.Config.Image)
	require.Equal(t, "/work", cs.Config.WorkingDir)
	require.Equal(t, []string{"A=1", "PATH=/bin"}, cs.Config.Env)
	require.Equal(t, map[string]string{LabelTask: "t1", LabelExecutor: "w1", LabelStdout: "/tmp/o", LabelStderr: "/tmp/e"}, cs.Config.Labels)
	require.Equal(t, []string{"no-new-privileges"}, cs.HostConfig.SecurityOpt)
	require.False(t, cs.HostConfig.Privileged)
	require.Empty(t, cs.HostConfig.CapAdd)
	require.Equal(t, PullMissing, cs.Pull)
	require.Equal(t, "local", cs.HostConfig.LogConfig.Type)
	require.Nil(t, cs.Config.Entrypoint)
}

// TestBuildContainerBadValues checks that every bad extension value fails
// with ErrStartFailed, naming the key, in the translation of the template
// (executor.ContainerOf); and that a spec without an image or with a
// relative working directory fails.
// TestBuildContainerResources: the original Kafka worker's settings reach
// the host config, whether or not the engine can apply them (an engine
// without block I/O weight drops it, see TestExtensions/blkio-weight).
func TestBuildContainerResources(t *testing.T) {
	t.Parallel()
	cs, err := build(map[string]string{"memory": "1g", "memory-reservation": "256m", "cpu-shares": "512", "blkio-weight": "400"}, testConfig())
	require.NoError(t, err)
	require.Equal(t, int64(256<<20), cs.HostConfig.MemoryReservation)
	require.Equal(t, int64(512), cs.HostConfig.CPUShares)
	require.Equal(t, uint16(400), cs.HostConfig.BlkioWeight)
}

func TestBuildContainerBadValues(t *testing.T) {
	t.Parallel()
	bad := map[string][]string{
		"pull":               {"sometimes", ""},
		"user":               {"", " "},
		"entrypoint":         {"[1,2]", "[\"a\""},
		"exposedPorts":       {"http", "80/xyz", ""},
		"net":                {""},
		"privileged":         {"yes please", ""},
		"read-only":          {"maybe"},
		"rm":                 {"2"},
		"restart":            {"sometimes", "always:3", "on-failure:x", "on-failure:-1"},
		"ipc":                {"", "bogus"},
		"uts":                {"", "bogus"},
		"pid":                {"", "bogus"},
		"gpus":               {"some", "0", "-1"},
		"shm-size":           {"lots", "0", "-5m"},
		"ulimit":             {"memlock", "nofile=a", ""},
		"cap-add":            {"", ","},
		"cap-drop":           {""},
		"tmpfs":              {"relative", ""},
		"dns":                {"not-an-ip", ""},
		"add-host":           {"nohost", "h:not-an-ip", ""},
		"labels":             {"novalue", "berth.task=x", "=v"},
		"platform":           {"linux", "a/b/c/d", "/amd64"},
		"hostname":           {""},
		"memory":             {"lots", "0", "-1"},
		"memory-swap":        {"lots", "0"},
		"cpus":               {"many", "0", "-1", "Inf", "NaN"},
		"cpu-shares":         {"x", "1"},
		"memory-reservation": {"lots", "0"},
		"blkio-weight":       {"x", "5"},
		"pids":               {"x", "0", "-2"},
		"no-such-key":        {"1"},
	}
	for key, values := range bad {
		for _, v := range values {
			_, err := build(map[string]string{key: v}, testConfig())
			require.ErrorIs(t, err, executor.ErrStartFailed, "%s=%q", key, v)
			require.Contains(t, err.Error(), `"`+key+`"`, "%s=%q", key, v)
		}
	}
	// Every known key is covered above.
	for _, k := range job.ContainerExtensions() {
		if k != "security-opt" { // any list is valid, even the empty one
			require.Contains(t, bad, k)
		}
	}
	_, err := buildContainer(&executor.Spec{ID: "x"}, testConfig())
	require.ErrorIs(t, err, executor.ErrStartFailed)
	s := testSpec(t, nil)
	s.WorkDir = "work"
	_, err = buildContainer(s, testConfig())
	require.ErrorIs(t, err, executor.ErrStartFailed)
	require.ErrorContains(t, err, "working directory")
}

// TestExtensions creates (without starting) a container for each template
// field and extension and checks the engine's view of it.
func TestExtensions(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	i64 := func(n int64) *int64 { return &n }
	cases := []struct {
		name  string
		ext   map[string]string
		check func(t *testing.T, c *container.InspectResponse)
	}{
		{"template", nil, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, "/bin/echo", c.Path)
			require.Equal(t, []string{"a", "b"}, c.Args)
			require.Equal(t, "/work", c.Config.WorkingDir)
			require.Contains(t, c.Config.Env, "A=1")
			require.Equal(t, tb.image, c.Config.Image)
			require.Equal(t, "t1", c.Config.Labels[LabelTask])
			require.Equal(t, tb.instance, c.Config.Labels[LabelExecutor])
			require.Equal(t, []string{"no-new-privileges"}, c.HostConfig.SecurityOpt)
			require.False(t, c.HostConfig.Privileged)
			require.Empty(t, c.HostConfig.CapAdd)
			require.Equal(t, "local", c.HostConfig.LogConfig.Type)
		}},
		{"user", map[string]string{"user": "65534:65534"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, "65534:65534", c.Config.User)
		}},
		{"entrypoint", map[string]string{"entrypoint": "/bin/env"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, []string{"/bin/env"}, []string(c.Config.Entrypoint))
			require.Equal(t, "/bin/env", c.Path)
		}},
		{"entrypoint-json", map[string]string{"entrypoint": `["/bin/sh","-c"]`}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, []string{"/bin/sh", "-c"}, []string(c.Config.Entrypoint))
		}},
		{"exposedPorts", map[string]string{"exposedPorts": "80,53/udp,127.0.0.1:18080:8080/tcp"}, func(t *testing.T, c *container.InspectResponse) {
			require.Len(t, c.Config.ExposedPorts, 3)
			require.Contains(t, c.Config.ExposedPorts, network.MustParsePort("80/tcp"))
			require.Contains(t, c.Config.ExposedPorts, network.MustParsePort("53/udp"))
			// Published as docker run -p: a bare port on a host port the engine picks.
			require.Equal(t, network.PortMap{
				network.MustParsePort("80/tcp"):   {{}},
				network.MustParsePort("53/udp"):   {{}},
				network.MustParsePort("8080/tcp"): {{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: "18080"}},
			}, c.HostConfig.PortBindings)
		}},
		{"net", map[string]string{"net": "none"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, container.NetworkMode("none"), c.HostConfig.NetworkMode)
		}},
		{"privileged", map[string]string{"privileged": "true"}, func(t *testing.T, c *container.InspectResponse) {
			require.True(t, c.HostConfig.Privileged)
		}},
		{"restart", map[string]string{"restart": "on-failure:3"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3}, c.HostConfig.RestartPolicy)
		}},
		{"ipc", map[string]string{"ipc": "private"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, container.IpcMode("private"), c.HostConfig.IpcMode)
		}},
		{"uts", map[string]string{"uts": "host"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, container.UTSMode("host"), c.HostConfig.UTSMode)
		}},
		{"pid", map[string]string{"pid": "host"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, container.PidMode("host"), c.HostConfig.PidMode)
		}},
		{"rm", map[string]string{"rm": "true"}, func(t *testing.T, c *container.InspectResponse) {
			require.True(t, c.HostConfig.AutoRemove)
			require.NotContains(t, c.Config.Labels, LabelKeep)
		}},
		{"rm-false", map[string]string{"rm": "false"}, func(t *testing.T, c *container.InspectResponse) {
			require.False(t, c.HostConfig.AutoRemove)
			require.Equal(t, "true", c.Config.Labels[LabelKeep], "kept after the task ends")
		}},
		{"gpus-all", map[string]string{"gpus": "all"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, []container.DeviceRequest{{Count: -1, Capabilities: [][]string{{"gpu"}}}}, c.HostConfig.DeviceRequests)
		}},
		{"gpus-count", map[string]string{"gpus": "2"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, 2, c.HostConfig.DeviceRequests[0].Count)
		}},
		{"shm-size", map[string]string{"shm-size": "64m"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, int64(64<<20), c.HostConfig.ShmSize)
		}},
		{"ulimit", map[string]string{"ulimit": "memlock=-1,stack=67108864"}, func(t *testing.T, c *container.InspectResponse) {
			require.ElementsMatch(t, []*units.Ulimit{{Name: "memlock", Soft: -1, Hard: -1}, {Name: "stack", Soft: 67108864, Hard: 67108864}}, c.HostConfig.Ulimits)
		}},
		{"read-only", map[string]string{"read-only": "true"}, func(t *testing.T, c *container.InspectResponse) {
			require.True(t, c.HostConfig.ReadonlyRootfs)
		}},
		{"cap-add", map[string]string{"cap-add": "NET_ADMIN,SYS_PTRACE"}, func(t *testing.T, c *container.InspectResponse) {
			require.ElementsMatch(t, []string{"CAP_NET_ADMIN", "CAP_SYS_PTRACE"}, c.HostConfig.CapAdd)
		}},
		{"cap-drop", map[string]string{"cap-drop": "ALL"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, []string{"ALL"}, c.HostConfig.CapDrop)
		}},
		{"security-opt", map[string]string{"security-opt": "label=disable,seccomp=unconfined"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, []string{"label=disable", "seccomp=unconfined"}, c.HostConfig.SecurityOpt)
		}},
		{"tmpfs", map[string]string{"tmpfs": "/scratch:size=1m,/run"}, func(t *testing.T, c *container.InspectResponse) {
			// Options with commas cannot be given: the list is comma-separated.
			require.Equal(t, map[string]string{"/scratch": "size=1m", "/run": ""}, c.HostConfig.Tmpfs)
		}},
		{"dns", map[string]string{"dns": "10.0.0.53,1.1.1.1"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, []netip.Addr{netip.MustParseAddr("10.0.0.53"), netip.MustParseAddr("1.1.1.1")}, c.HostConfig.DNS)
		}},
		{"add-host", map[string]string{"add-host": "db:10.0.0.5,cache:10.0.0.6"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, []string{"db:10.0.0.5", "cache:10.0.0.6"}, c.HostConfig.ExtraHosts)
		}},
		{"labels", map[string]string{"labels": "team=a,tier=batch"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, "a", c.Config.Labels["team"])
			require.Equal(t, "batch", c.Config.Labels["tier"])
			require.Equal(t, "t1", c.Config.Labels[LabelTask])
		}},
		{"platform", map[string]string{"platform": "linux/amd64"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, "linux", c.Platform)
		}},
		{"hostname", map[string]string{"hostname": "node7"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, "node7", c.Config.Hostname)
		}},
		{"memory", map[string]string{"memory": "256m", "memory-swap": "512m"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, int64(256<<20), c.HostConfig.Memory)
			require.Equal(t, int64(512<<20), c.HostConfig.MemorySwap)
		}},
		{"cpus", map[string]string{"cpus": "1.5"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, int64(1.5e9), c.HostConfig.NanoCPUs)
		}},
		{"cpu-shares", map[string]string{"cpu-shares": "512"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, int64(512), c.HostConfig.CPUShares)
		}},
		{"memory-reservation", map[string]string{"memory": "1g", "memory-reservation": "256m"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, int64(256<<20), c.HostConfig.MemoryReservation)
		}},
		{"blkio-weight", map[string]string{"blkio-weight": "400"}, func(t *testing.T, c *container.InspectResponse) {
			// An engine whose kernel cannot weigh block I/O drops the
			// setting (with a warning) rather than refuse the container.
			if c.HostConfig.BlkioWeight == 0 && !engineBlkioWeight(t, tb.cli, tb.image) {
				t.Skip("the engine's kernel does not support block I/O weight")
			}
			require.Equal(t, uint16(400), c.HostConfig.BlkioWeight)
		}},
		{"pids", map[string]string{"pids": "100"}, func(t *testing.T, c *container.InspectResponse) {
			require.Equal(t, i64(100), c.HostConfig.PidsLimit)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := testSpec(t, tc.ext)
			s.Container.Image = tb.image
			cs, err := buildContainer(s, &tb.exec.cfg)
			require.NoError(t, err)
			id, err := tb.exec.create(context.Background(), cs)
			require.NoError(t, err)
			defer tb.cli.ContainerRemove(context.Background(), id, client.ContainerRemoveOptions{Force: true})
			res, err := tb.cli.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
			require.NoError(t, err)
			tc.check(t, &res.Container)
		})
	}
}

// engineBlkioWeight reports whether the engine can weigh block I/O: one
// that cannot says so in a warning when a container asks for it.
func engineBlkioWeight(t *testing.T, cli *client.Client, image string) bool {
	ctx := context.Background()
	res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config:     &container.Config{Image: image, Cmd: []string{"true"}},
		HostConfig: &container.HostConfig{Resources: container.Resources{BlkioWeight: 400}},
	})
	require.NoError(t, err)
	defer cli.ContainerRemove(ctx, res.ID, client.ContainerRemoveOptions{Force: true})
	for _, w := range res.Warnings {
		if strings.Contains(w, "Block I/O weight") || strings.Contains(w, "io.weight") {
			return false
		}
	}
	return true
}
