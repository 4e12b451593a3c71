// Package cli is berth's command line: the root command, its subcommands
// (one package each, after gh's layout) and Main, which maps errors to exit
// codes.
//
// Commands that need more than the client (berth serve, berth worker) are
// defined in package main and handed to Main, so the client-only commands
// never depend on the server's packages.
package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/complete"
	"github.com/berth-run/berth/internal/cli/control"
	"github.com/berth-run/berth/internal/cli/iostreams"
	"github.com/berth-run/berth/internal/cli/logs"
	"github.com/berth-run/berth/internal/cli/ls"
	"github.com/berth-run/berth/internal/cli/openjd"
	"github.com/berth-run/berth/internal/cli/receive"
	"github.com/berth-run/berth/internal/cli/rm"
	"github.com/berth-run/berth/internal/cli/run"
	"github.com/berth-run/berth/internal/cli/show"
	"github.com/berth-run/berth/internal/cli/ui"
	"github.com/berth-run/berth/internal/cli/version"
	"github.com/berth-run/berth/internal/cli/wait"
	"github.com/berth-run/berth/internal/cli/workers"
)

// Version is berth's version; set it at build time with
// -ldflags "-X github.com/berth-run/berth/internal/cli.Version=v1.2.3".
// Empty, it is read from the build information.
var Version string

// CommandFunc makes a subcommand from the factory; package main passes
// these to Main for the commands that link more than the client.
type CommandFunc func(*cmdutil.Factory) *cobra.Command

// Main runs berth with the process's arguments and returns the exit code.
func Main(extra ...CommandFunc) int {
	f := NewFactory()
	root := NewRootCmd(f, extra...)
	cmd, err := root.ExecuteContextC(context.Background())
	return HandleError(f, cmd, err)
}

// NewFactory returns the factory of a real run: the process's streams and
// a client from the environment ($BERTH_ADDR, $BERTH_TOKEN, $BERTH_HOME).
func NewFactory() *cmdutil.Factory {
	ios := iostreams.System()
	// A server that is starting is waited for; say so on stderr.
	notice := client.WithNotice(func(msg string) { fmt.Fprintln(ios.ErrOut, msg) })
	return &cmdutil.Factory{
		IO:      ios,
		Client:  func() (*client.Client, error) { return client.FromEnv(notice) },
		Now:     time.Now,
		Version: versionString(),
	}
}

func versionString() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// NewRootCmd returns the berth command with every subcommand, extra ones
// included.
func NewRootCmd(f *cmdutil.Factory, extra ...CommandFunc) *cobra.Command {
	root := &cobra.Command{
		Use:   "berth <command> [flags]",
		Short: "Run jobs, durably, here or on a fleet",
		Long: `berth runs commands as jobs: it keeps each durably, lets you control it,
and hands back its output and results.

The server's address comes from $BERTH_ADDR (unix:///path, a socket path,
http://host:port or host:port; TCP needs $BERTH_TOKEN), else the socket in
the data directory ($BERTH_HOME, else $XDG_DATA_HOME/berth, else
~/.local/share/berth).

` + cmdutil.ExitCodesHelp,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       f.Version,
	}
	root.SetVersionTemplate("berth {{.Version}}\n")
	root.SetFlagErrorFunc(cmdutil.FlagErrorFunc)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.AddCommand(
		run.NewCmdRun(f, nil),
		ls.NewCmdLs(f, nil),
		show.NewCmdShow(f, nil),
		wait.NewCmdWait(f, nil),
		logs.NewCmdLogs(f, nil),
		receive.NewCmdReceive(f, nil),
		rm.NewCmdRm(f, nil),
		workers.NewCmdWorkers(f, nil),
		ui.NewCmdUI(f, nil),
		version.NewCmdVersion(f),
		openjd.NewCmdOpenJD(f),
		openjd.NewCmdSubmit(f, nil),
	)
	root.AddCommand(control.NewCmds(f, nil)...)
	for _, mk := range extra {
		root.AddCommand(mk(f))
	}
	complete.Register(root, f)
	return root
}

// HandleError prints err (if it says anything) and returns the exit code.
// A usage error also prints how to get help.
func HandleError(f *cmdutil.Factory, cmd *cobra.Command, err error) int {
	code := cmdutil.ExitCode(err)
	if err == nil {
		return code
	}
	var exit *cmdutil.ExitError
	if errors.As(err, &exit) && exit.Err == nil {
		return code
	}
	fmt.Fprintln(f.IO.ErrOut, err)
	if code == cmdutil.ExitUsage && isUsage(err) && cmd != nil {
		fmt.Fprintf(f.IO.ErrOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

func isUsage(err error) bool {
	var flag *cmdutil.FlagError
	return errors.As(err, &flag) || cmdutil.IsCobraUsage(err)
}

// Exit runs Main and exits with its code; for package main.
func Exit(extra ...CommandFunc) { os.Exit(Main(extra...)) }
