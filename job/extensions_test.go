package job

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// badExtensions has, for every container extension, values it refuses.
var badExtensions = map[string][]string{
	"pull":               {"sometimes", ""},
	"user":               {"", " "},
	"entrypoint":         {"[1,2]", "[\"a\""},
	"exposedPorts":       {"http", "80/xyz", "", "0", "70000", "0:80", "x:8080:80", "1.2.3.4:8080:80:9", "[::1]80", "[::1]:80"},
	"net":                {""},
	"privileged":         {"yes please", ""},
	"read-only":          {"maybe"},
	"rm":                 {"2"},
	"restart":            {"sometimes", "always:3", "on-failure:x", "on-failure:-1", ""},
	"ipc":                {"", "bogus", "container:"},
	"uts":                {"", "bogus", "container:x"},
	"pid":                {"", "bogus"},
	"gpus":               {"some", "0", "-1"},
	"shm-size":           {"lots", "0", "-5m", "NaN", "Inf", "k", "99999999999p"},
	"ulimit":             {"memlock", "nofile=a", "", "bogus=1", "nofile=10:5", "nofile=-1:5"},
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
	"cpu-shares":         {"x", "1", "300000"},
	"memory-reservation": {"lots", "0", "-1"},
	"blkio-weight":       {"x", "0", "9", "1001", "-5"},
	"pids":               {"x", "0", "-2"},
}

// TestContainerExtensionsBad checks that every bad value is refused with a
// FieldError naming the key, through Spec.Validate, and that every known
// key is covered.
func TestContainerExtensionsBad(t *testing.T) {
	t.Parallel()
	for key, values := range badExtensions {
		for _, v := range values {
			s := Spec{Template: Template{Command: "x", Image: "img", Extensions: map[string]string{key: v}}}
			err := s.Validate()
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "%s=%q: %v", key, v, err)
			require.Equal(t, "template.extensions."+key, fe.Field, "%s=%q", key, v)
			require.Error(t, ValidateContainerExtension(key, v), "%s=%q", key, v)
		}
	}
	for _, k := range ContainerExtensions() {
		if k != "security-opt" { // any list is valid, even the empty one
			require.Contains(t, badExtensions, k)
		}
	}
	s := Spec{Template: Template{Command: "x", Image: "img", Extensions: map[string]string{"bogus": "1"}}}
	require.EqualError(t, s.Validate(), "template.extensions.bogus: unknown container extension (known: "+
		"add-host, blkio-weight, cap-add, cap-drop, cpu-shares, cpus, dns, entrypoint, exposedPorts, gpus, hostname, ipc, labels, "+
		"memory, memory-reservation, memory-swap, net, pid, pids, platform, privileged, pull, read-only, restart, rm, security-opt, "+
		"shm-size, tmpfs, ulimit, user, uts)")
	s = Spec{Template: Template{Command: "x", Extensions: map[string]string{"memory": "1g"}}}
	require.EqualError(t, s.Validate(), "template.extensions.memory: a process job (no image) takes no extensions; they are container settings")
}

// TestContainerExtensionsParse checks the parsed values.
func TestContainerExtensionsParse(t *testing.T) {
	t.Parallel()
	c, err := ParseContainerExtensions(map[string]string{
		"pull": "never", "user": "1:2", "entrypoint": `["/bin/sh","-c"]`, "exposedPorts": "80, 53/UDP, 8080:80, 127.0.0.1:8081:81/tcp, 127.0.0.1::82, [::1]:8083:83/udp",
		"net": "none", "privileged": "true", "read-only": "1", "rm": "false", "restart": "on-failure:2",
		"ipc": "container:db", "uts": "host", "pid": "host", "gpus": "all", "shm-size": "64m",
		"ulimit": "memlock=-1,nofile=1024:2048", "cap-add": "NET_ADMIN, SYS_PTRACE", "cap-drop": "ALL",
		"security-opt": "", "tmpfs": "/scratch:size=1m,/run", "dns": "10.0.0.53", "add-host": "db:10.0.0.5,gw:host-gateway",
		"labels": "a=1,b=", "platform": "linux/arm64/v8", "hostname": "n7", "memory": "1.5g", "memory-swap": "-1",
		"cpus": "0.5", "cpu-shares": "512", "pids": "-1",
	}, "")
	require.NoError(t, err)
	pids := int64(-1)
	require.Equal(t, &ContainerSettings{
		Pull: "never", User: "1:2", Entrypoint: []string{"/bin/sh", "-c"}, EntrypointSet: true,
		Keep: true, ExposedPorts: []Port{{Number: 80, Proto: "tcp"}, {Number: 53, Proto: "udp"}, {Number: 80, Proto: "tcp", HostPort: 8080},
			{Number: 81, Proto: "tcp", HostIP: "127.0.0.1", HostPort: 8081}, {Number: 82, Proto: "tcp", HostIP: "127.0.0.1"},
			{Number: 83, Proto: "udp", HostIP: "::1", HostPort: 8083}}, Network: "none", Privileged: true, ReadOnly: true,
		Restart: RestartPolicy{Name: "on-failure", MaxRetries: 2}, IPC: "container:db", UTS: "host", PID: "host",
		GPUs: -1, ShmSize: 64 << 20, Ulimits: []Ulimit{{"memlock", -1, -1}, {"nofile", 1024, 2048}},
		CapAdd: []string{"NET_ADMIN", "SYS_PTRACE"}, CapDrop: []string{"ALL"}, SecurityOptSet: true,
		Tmpfs: map[string]string{"/scratch": "size=1m", "/run": ""}, DNS: []netip.Addr{netip.MustParseAddr("10.0.0.53")},
		ExtraHosts: []string{"db:10.0.0.5", "gw:host-gateway"}, Labels: map[string]string{"a": "1", "b": ""},
		Platform: &Platform{"linux", "arm64", "v8"}, Hostname: "n7", Memory: 3 << 29, MemorySwap: -1,
		NanoCPUs: 5e8, CPUShares: 512, PidsLimit: &pids,
	}, c)
	require.True(t, c.Restart.Restarts())

	c, err = ParseContainerExtensions(map[string]string{"entrypoint": ""}, "")
	require.NoError(t, err)
	require.True(t, c.EntrypointSet)
	require.Empty(t, c.Entrypoint)
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	// As the Docker CLI reads them (go-units), "1e3" and "+1" too.
	for s, want := range map[string]int64{"512": 512, "1k": 1024, "64m": 64 << 20, "64MB": 64 << 20, "2GiB": 2 << 30,
		"1.5g": 3 << 29, "1 t": 1 << 40, "0": 0, "10b": 10, "1e3": 1000, "+1": 1} {
		got, err := ParseSize(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	for _, s := range []string{"", "b", "m", "-1", "0x10", "Inf", "NaN", "lots", "1q", "9999999p", "1e30"} {
		_, err := ParseSize(s)
		require.Error(t, err, s)
	}
}

// TestValidateMounts checks stage_in, stage_out and the output paths.
func TestValidateMounts(t *testing.T) {
	t.Parallel()
	ok := Template{Command: "x", Image: "img", OutputPath: "/o", ErrorPath: "/o",
		StageIn:  []Mount{{Host: "/data", Container: "/in"}, {Host: "/data", Container: "/in2", RW: true}},
		StageOut: []Mount{{Host: "/res/a", Container: "/out"}, {Host: "/res/b", Container: "/out"}}}
	require.NoError(t, (&Spec{Template: ok}).Validate())
	// A process job: the paths are still checked.
	proc := ok
	proc.Image = ""
	require.NoError(t, (&Spec{Template: proc}).Validate())

	for _, tc := range []struct {
		name string
		edit func(*Template)
		want string
	}{
		{"relative host", func(t *Template) { t.StageIn[0].Host = "data" }, "template.stage_in[0].host: must be an absolute path"},
		{"no host", func(t *Template) { t.StageIn[1].Host = "" }, "template.stage_in[1].host: required"},
		{"relative container", func(t *Template) { t.StageIn[0].Container = "in" }, "template.stage_in[0].container: must be an absolute path"},
		{"root", func(t *Template) { t.StageIn[0].Container = "/./" }, "template.stage_in[0].container: must not be the root directory"},
		{"NUL", func(t *Template) { t.StageIn[0].Host = "/a\x00" }, "template.stage_in[0].host: must not contain NUL"},
		{"twice in", func(t *Template) { t.StageIn[1].Container = "/in/" }, "template.stage_in[1].container: /in is also in template.stage_in[0]"},
		{"twice out", func(t *Template) { t.StageOut[1].Host = "/res/a" }, "template.stage_out[1].host: /res/a is also in template.stage_out[0]"},
		{"rw out", func(t *Template) { t.StageOut[0].RW = true }, "template.stage_out[0].rw: only stage_in mounts can be writable"},
		{"relative out", func(t *Template) { t.StageOut[0].Container = "out" }, "template.stage_out[0].container: must be an absolute path"},
		{"too many", func(t *Template) { t.StageIn = make([]Mount, MaxMounts+1) }, "template.stage_in: more than 64 entries"},
		{"output path", func(t *Template) { t.OutputPath = "out.txt" }, "template.output_path: must be an absolute path"},
		{"error path", func(t *Template) { t.ErrorPath = "e\x00" }, "template.error_path: must not contain NUL"},
		{"rm", func(t *Template) { t.Extensions = map[string]string{"rm": "true"} },
			"template.stage_out: cannot copy out of a container the engine removes as it exits (extensions.rm)"},
	} {
		tpl := ok
		tpl.StageIn = append([]Mount(nil), ok.StageIn...)
		tpl.StageOut = append([]Mount(nil), ok.StageOut...)
		tc.edit(&tpl)
		require.EqualError(t, (&Spec{Template: tpl}).Validate(), tc.want, tc.name)
	}
}
