package kafka

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fullConfig is the example of docs/kafka.md, with every key.
const fullConfig = `
sandboxes:
  linux-amd64-dotnet-7:
    image: semyonnaumov/sandbox:linux-amd64-dotnet-7
    scriptFile: main.csx
    command: dotnet-script /tmp/script/main.csx -c release
    mountPoint: /tmp/script
    configFiles:
      nugetConfigXml: NuGet.Config
    workDir: /app
    env:
      DOTNET_CLI_TELEMETRY_OPTOUT: "1"
    network: bridge
    limits:
      memory: 2g
      cpus: 1.5
      pids: 200
      memoryReservation: 512m
      cpuShares: 1024
      blkioWeight: 500
    noNewPrivileges: true
    timeLimit: 2m
    stopGrace: 5s
    maxConcurrent: 8
    outputLimit: 512KiB
    pull: always
    extensions:
      user: "1000:1000"
      read-only: "true"
  shell:
    image: busybox
    command: ["sh", "-c", "sh /tmp/script/main.sh"]
`

func TestParseSandboxFull(t *testing.T) {
	t.Parallel()
	s, err := ParseSandbox([]byte(fullConfig), "linux-amd64-dotnet-7")
	require.NoError(t, err)
	require.Equal(t, &Sandbox{
		Name: "linux-amd64-dotnet-7", Image: "semyonnaumov/sandbox:linux-amd64-dotnet-7", ScriptFile: "main.csx",
		Command:    []string{"dotnet-script", "/tmp/script/main.csx", "-c", "release"},
		MountPoint: "/tmp/script", ConfigFiles: map[string]string{"nugetConfigXml": "NuGet.Config"},
		WorkDir: "/app", Env: map[string]string{"DOTNET_CLI_TELEMETRY_OPTOUT": "1"}, Network: "bridge",
		Memory: 2 << 30, CPUs: 1.5, Pids: 200, MemoryReservation: 512 << 20, CPUShares: 1024, BlkioWeight: 500,
		NoNewPrivileges: true,
		TimeLimit:       2 * time.Minute, StopGrace: 5 * time.Second, MaxConcurrent: 8, OutputLimit: 512 << 10,
		Pull: "always", Extensions: map[string]string{"user": "1000:1000", "read-only": "true"},
	}, s)
	s, err = ParseSandbox([]byte(fullConfig), "shell")
	require.NoError(t, err)
	require.Equal(t, []string{"sh", "-c", "sh /tmp/script/main.sh"}, s.Command)
}

func TestParseSandboxDefaults(t *testing.T) {
	t.Parallel()
	// JSON is YAML too; one sandbox needs no name.
	s, err := ParseSandbox([]byte(`{"sandboxes": {"cs": {"image": "img"}}}`), "")
	require.NoError(t, err)
	require.Equal(t, &Sandbox{
		Name: "cs", Image: "img", ScriptFile: ScriptFileDefault, MountPoint: MountPointDefault,
		ConfigFiles: ConfigFilesDefault(), Network: NetworkDefault,
		Memory: MemoryDefault, CPUs: CPUsDefault, Pids: PidsDefault, NoNewPrivileges: true,
		MemoryReservation: MemoryReservationDefault, CPUShares: CPUSharesDefault, BlkioWeight: BlkioWeightDefault,
		TimeLimit: TimeLimitDefault, StopGrace: StopGraceDefault, MaxConcurrent: MaxConcurrentDefault,
		OutputLimit: OutputLimitDefault, Pull: PullDefault,
	}, s)
	// Limits of 0 are none; the grace may be 0.
	s, err = ParseSandbox([]byte("sandboxes:\n  cs:\n    image: img\n    limits: {memory: 0, cpus: 0, pids: 0, memoryReservation: 0, cpuShares: 0, blkioWeight: 0}\n    stopGrace: 0s\n"), "cs")
	require.NoError(t, err)
	require.Zero(t, s.Memory+s.Pids+s.MemoryReservation+s.CPUShares+s.BlkioWeight)
	require.Zero(t, s.CPUs)
	require.Zero(t, s.StopGrace)
	// A memory limit under the default reservation lowers the reservation
	// to it (the engine refuses one above the limit).
	s, err = ParseSandbox([]byte("sandboxes:\n  cs:\n    image: img\n    limits: {memory: 128m}\n"), "cs")
	require.NoError(t, err)
	require.Equal(t, int64(128<<20), s.MemoryReservation)
}

// TestParseSandboxErrors names the key of each bad value.
func TestParseSandboxErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ body, want string }{
		{"image: x\nbogus: 1", "field bogus not found"},
		{"scriptFile: a.csx", "sandboxes.cs.image: missing"},
		{"image: x\nscriptFile: ../a", "sandboxes.cs.scriptFile"},
		{"image: x\ncommand: 'dotnet-script \"a b\"'", "sandboxes.cs.command: quotes"},
		{"image: x\ncommand: []", "sandboxes.cs.command: empty program"},
		{"image: x\ncommand: {a: b}", "sandboxes.cs.command: want a string or a list"},
		{"image: x\nmountPoint: rel", "sandboxes.cs.mountPoint"},
		{"image: x\nmountPoint: /", "sandboxes.cs.mountPoint"},
		{"image: x\nmountPoint: /a:b", "sandboxes.cs.mountPoint"},
		{"image: x\nconfigFiles: {nugetConfigXml: main.csx}", "sandboxes.cs.configFiles.nugetConfigXml: file \"main.csx\" is also scriptFile"},
		{"image: x\nconfigFiles: {a: x/y}", "sandboxes.cs.configFiles.a"},
		{"image: x\nworkDir: rel", "sandboxes.cs.workDir"},
		{"image: x\nlimits: {memory: lots}", "sandboxes.cs.limits.memory"},
		{"image: x\nlimits: {cpus: -1}", "sandboxes.cs.limits.cpus"},
		{"image: x\nlimits: {pids: 1.5}", "sandboxes.cs.limits.pids"},
		{"image: x\nlimits: {memory: 128m, memoryReservation: 256m}", "sandboxes.cs.limits.memoryReservation: 256MiB is more than limits.memory 128MiB"},
		{"image: x\nlimits: {memoryReservation: lots}", "sandboxes.cs.limits.memoryReservation"},
		{"image: x\nlimits: {cpuShares: 1}", "sandboxes.cs.limits.cpuShares"},
		{"image: x\nlimits: {cpuShares: 300000}", "sandboxes.cs.limits.cpuShares"},
		{"image: x\nlimits: {blkioWeight: 5}", "sandboxes.cs.limits.blkioWeight"},
		{"image: x\nlimits: {blkioWeight: 1001}", "sandboxes.cs.limits.blkioWeight"},
		{"image: x\nextensions: {cpu-shares: 1024}", "sandboxes.cs.extensions.cpu-shares: set limits.cpuShares instead"},
		{"image: x\ntimeLimit: 120", "sandboxes.cs.timeLimit: want a duration"},
		{"image: x\ntimeLimit: 0s", "sandboxes.cs.timeLimit"},
		{"image: x\nstopGrace: -1s", "sandboxes.cs.stopGrace"},
		{"image: x\nmaxConcurrent: 0", "sandboxes.cs.maxConcurrent"},
		{"image: x\noutputLimit: 0", "sandboxes.cs.outputLimit"},
		{"image: x\npull: sometimes", "sandboxes.cs.pull"},
		{"image: x\nenv: {\"A=B\": c}", "sandboxes.cs.env"},
		{"image: x\nextensions: {net: host}", "sandboxes.cs.extensions.net: set network instead"},
		{"image: x\nextensions: {restart: always}", "sandboxes.cs.extensions.restart: not allowed"},
		{"image: x\nextensions: {bogus: x}", "sandboxes.cs.extensions.bogus"},
		{"image: x\nextensions: {shm-size: lots}", "sandboxes.cs.extensions.shm-size"},
	} {
		_, err := ParseSandbox([]byte("sandboxes:\n  cs:\n    "+indent(tc.body)), "cs")
		require.ErrorContains(t, err, tc.want, tc.body)
	}
	_, err := ParseSandbox([]byte("sandboxes:\n  a: {image: x}\n  b: {image: y}\n"), "")
	require.ErrorContains(t, err, "several sandboxes (a, b)")
	_, err = ParseSandbox([]byte("sandboxes:\n  a: {image: x}\n"), "c")
	require.ErrorContains(t, err, `no sandbox "c" (defined: a)`)
	_, err = ParseSandbox([]byte("sandboxes:\n  'a b': {image: x}\n"), "a b")
	require.ErrorContains(t, err, "sandboxes.a b.name")
	_, err = ParseSandbox([]byte("{}"), "")
	require.ErrorContains(t, err, "none defined")
	_, err = LoadSandbox(filepath.Join(t.TempDir(), "missing.yaml"), "")
	require.ErrorIs(t, err, os.ErrNotExist)
}

func indent(s string) string {
	out := []byte{}
	for i := range len(s) {
		out = append(out, s[i])
		if s[i] == '\n' {
			out = append(out, "    "...)
		}
	}
	return string(out)
}
