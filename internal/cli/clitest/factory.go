package clitest

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/iostreams"
)

// Now is the fixed clock of test factories.
var Now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Env is a factory on test buffers.
type Env struct {
	F               *cmdutil.Factory
	In, Out, ErrOut *bytes.Buffer
}

// NewEnv returns a factory whose client talks to url and whose
// stdout and stderr are terminals if tty.
func NewEnv(t testing.TB, url string, tty bool) *Env {
	ios, in, out, errOut := iostreams.Test()
	ios.SetStdoutTTY(tty)
	ios.SetStderrTTY(tty)
	f := &cmdutil.Factory{
		IO:      ios,
		Client:  func() (*client.Client, error) { return client.New(url, client.WithToken("test")) },
		Now:     func() time.Time { return Now },
		Version: "test",
	}
	return &Env{F: f, In: in, Out: out, ErrOut: errOut}
}

// Exec runs cmd with args as the root command would (flag errors become
// FlagErrors) and returns the exit code berth would exit with.
func Exec(cmd *cobra.Command, args ...string) (int, error) {
	cmd.SetArgs(args)
	cmd.SetFlagErrorFunc(cmdutil.FlagErrorFunc)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	var discard bytes.Buffer
	cmd.SetOut(&discard)
	cmd.SetErr(&discard)
	err := cmd.Execute()
	return cmdutil.ExitCode(err), err
}

// Lines splits output into lines, without the last empty one.
func Lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
