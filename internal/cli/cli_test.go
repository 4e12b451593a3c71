package cli

import (
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
)

var server = clitest.Share(clitest.Options{NoWorker: true})

func TestMain(m *testing.M) { clitest.Main(m) }

// execRoot runs the root command as Main does and returns the exit code.
func execRoot(t *testing.T, env *clitest.Env, extra []CommandFunc, args ...string) int {
	root := NewRootCmd(env.F, extra...)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	return HandleError(env.F, cmd, err)
}

func TestRootExitCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"unknown command", []string{"nope"}, cmdutil.ExitUsage, "unknown command \"nope\" for \"berth\"\nRun 'berth --help' for usage.\n"},
		{"bad flag value", []string{"run", "--array", "1-x", "--", "true"}, cmdutil.ExitUsage,
			"invalid argument \"1-x\" for \"--array\" flag: invalid array \"1-x\": want BEGIN-END[:STEP], such as 1-100:2\nRun 'berth run --help' for usage.\n"},
		{"unknown flag", []string{"ls", "--bogus"}, cmdutil.ExitUsage, "unknown flag: --bogus\nRun 'berth ls --help' for usage.\n"},
		{"bad ref", []string{"stop", "x"}, cmdutil.ExitUsage, "invalid job ID \"x\": want a positive number, or ID.INDEX for a task of an array\nRun 'berth stop --help' for usage.\n"},
		{"no server", []string{"ls"}, cmdutil.ExitNoServer, "no berth server at 127.0.0.1:1; start one with `berth serve`\n"},
		{"no job", []string{"show", "12"}, cmdutil.ExitUsage, "no job 12\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := "127.0.0.1:1"
			if tc.name == "no job" {
				url = server.Server(t).Addr()
			}
			env := clitest.NewEnv(t, url, false)
			require.Equal(t, tc.code, execRoot(t, env, nil, tc.args...))
			require.Equal(t, tc.stderr, env.ErrOut.String())
		})
	}
}

func TestRootExtraCommands(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "127.0.0.1:1", false)
	ran := false
	serve := func(f *cmdutil.Factory) *cobra.Command {
		return &cobra.Command{Use: "serve", RunE: func(*cobra.Command, []string) error { ran = true; return nil }}
	}
	require.Equal(t, 0, execRoot(t, env, []CommandFunc{serve}, "serve"))
	require.True(t, ran)
}

func TestRootCommands(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "127.0.0.1:1", false)
	var names []string
	for _, c := range NewRootCmd(env.F).Commands() {
		names = append(names, c.Name())
	}
	for _, want := range []string{"run", "ls", "show", "wait", "logs", "receive", "stop", "suspend", "resume", "hold", "release", "rm", "workers", "version"} {
		require.Contains(t, names, want)
	}
	require.Equal(t, 0, execRoot(t, env, nil, "version"))
	require.Equal(t, "berth test", env.Out.String()[:len("berth test")])
}
