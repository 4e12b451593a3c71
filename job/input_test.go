package job

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWithInput(t *testing.T) {
	t.Parallel()
	const in = `a b'c;$(rm -rf /)`
	const q = `'a b'\''c;$(rm -rf /)'`
	for _, tc := range []struct {
		name    string
		command string
		args    []string
		want    []string
	}{
		{"plain argv", "gzip", []string{"-k", "{}", "x{}y"}, []string{"-k", in, "x" + in + "y"}},
		{"sh -c", "sh", []string{"-c", "echo {} >/dev/null", "{}"}, []string{"-c", "echo " + q + " >/dev/null", in}},
		{"bash -ec", "/bin/bash", []string{"-ec", "f {}"}, []string{"-ec", "f " + q}},
		{"options before -c", "bash", []string{"-o", "pipefail", "--norc", "-x", "-c", "f {}"}, []string{"-o", "pipefail", "--norc", "-x", "-c", "f " + q}},
		{"-c after options", "dash", []string{"-e", "-c", "f {}", "name", "{}"}, []string{"-e", "-c", "f " + q, "name", in}},
		{"zsh", "/usr/bin/zsh", []string{"-c", "{}"}, []string{"-c", q}},
		{"env", "env", []string{"-i", "-u", "X", "A=1", "sh", "-c", "f {}"}, []string{"-i", "-u", "X", "A=1", "sh", "-c", "f " + q}},
		{"absolute env", "/usr/bin/env", []string{"bash", "-c", "f {}"}, []string{"bash", "-c", "f " + q}},
		{"script file, not -c", "sh", []string{"script.sh", "{}"}, []string{"script.sh", in}},
		{"not a shell", "python3", []string{"-c", "print('{}')"}, []string{"-c", "print('" + in + "')"}},
		{"env of not a shell", "env", []string{"A=1", "echo", "-c", "{}"}, []string{"A=1", "echo", "-c", in}},
		{"-c without script", "sh", []string{"-c"}, []string{"-c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmpl := Template{Command: tc.command, Args: tc.args}
			got := tmpl.WithInput(in)
			require.Equal(t, tc.want, got.Args)
			require.Equal(t, tc.args, tmpl.Args, "the job's template stays as it was")
		})
	}
	require.Equal(t, "run-"+in, Template{Command: "run-{}"}.WithInput(in).Command)
	require.Nil(t, Template{Command: "x"}.WithInput(in).Args)
	require.Equal(t, `''\'''`, ShellQuote("'"))
}

// TestWithInputShells runs the scripts through the shells installed: the
// input comes out as written, wherever {} stands, and never runs.
func TestWithInputShells(t *testing.T) {
	t.Parallel()
	inputs := []string{
		`plain`, `two words`, `it's`, `"q" 'q'`, `$(echo PWNED)`, "`echo PWNED`", `$HOME ${HOME}`,
		`a\b\\c\`, `*; echo PWNED; #`, `x' ; echo PWNED ; '`, `x" ; echo PWNED ; "`, `!! !$`, `)`, "tab\there",
	}
	scripts := []struct{ script, want string }{
		{`printf '%s\n' {}`, "IN"},
		{`printf '%s\n' "{}"`, "IN"},
		{`printf '%s\n' '{}'`, "IN"},
		{`printf '%s\n' "<{}>" '<{}>' x{}y`, "<IN>\n<IN>\nxINy"},
		{`printf '%s\n' "$(printf '%s' "{}")"`, "IN"},
		{`printf '%s\n' "$(printf '%s' {})" $((1+1))`, "IN\n2"},
		{"printf '%s\\n' `printf '%s' \"{}\"`x", "INx"},
		{"# it's a comment\nprintf '%s\\n' {}", "IN"},
		{`printf '%s\n' "\"{}\"" \'{}`, `"IN"` + "\n'IN"},
		{`echo "it's" >/dev/null; printf '%s\n' {}`, "IN"},
	}
	for _, shell := range []string{"sh", "bash", "dash", "zsh", "ksh"} {
		path, err := exec.LookPath(shell)
		if err != nil {
			continue
		}
		for _, sc := range scripts {
			for _, in := range inputs {
				if shell == "zsh" && strings.ContainsAny(in, "\\") {
					continue // zsh's printf and echo read backslashes themselves
				}
				tmpl := Template{Command: path, Args: []string{"-c", sc.script}}.WithInput(in)
				out, err := exec.Command(tmpl.Command, tmpl.Args...).CombinedOutput()
				want := strings.ReplaceAll(sc.want, "IN", in) + "\n"
				if strings.Contains(in, "tab") && strings.Contains(sc.script, "`") {
					continue // unquoted `...` output is split on the tab
				}
				if strings.HasSuffix(sc.script, "x") && strings.ContainsAny(in, " \t") {
					continue // ditto, on the space
				}
				require.NoError(t, err, "%s -c %q: %s", shell, tmpl.Args[1], out)
				require.Equal(t, want, string(out), "%s -c %q", shell, tmpl.Args[1])
			}
		}
	}
}

func TestParseStopSignal(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"int": "SIGINT", "SIGQUIT": "SIGQUIT", " term ": "SIGTERM", "Kill": "SIGKILL"} {
		got, err := ParseStopSignal(in)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	_, err := ParseStopSignal("SIGSTOP")
	require.ErrorContains(t, err, `unknown signal "SIGSTOP" (want one of SIGTERM, SIGINT`)
	_, err = ParseStopSignal("9")
	require.Error(t, err)
}
