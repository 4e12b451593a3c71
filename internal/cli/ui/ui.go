// Package ui implements `berth ui`.
package ui

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/iostreams"
)

// Options are the flags of `berth ui` and what it needs.
type Options struct {
	IO     *iostreams.IOStreams
	Client func() (*client.Client, error)
	// Open opens a URL in a browser; defaults to the desktop's opener.
	Open func(url string) error

	OpenBrowser bool
}

// NewCmdUI returns the command; runF replaces its behaviour in tests.
func NewCmdUI(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Open: openBrowser}
	cmd := &cobra.Command{
		Use:   "ui [--open]",
		Short: "Print (or open) a link that logs a browser into the dashboard",
		Long: `Print a link to the web dashboard that logs a browser in once, within two
minutes, as Jupyter does; --open also opens it in the default browser.

The dashboard is served by berth serve on its TCP listener, so the server
needs --listen (127.0.0.1:8080, say). The link sets a session cookie; the
token itself never reaches the browser.`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.OpenBrowser, "open", false, "open the link in the default browser")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	code, err := c.UICode(ctx)
	if err != nil {
		return err
	}
	if code.URL == "" {
		return errors.New("the server does not listen on TCP, which a browser needs: restart it with berth serve --listen 127.0.0.1:8080")
	}
	fmt.Fprintln(opts.IO.Out, code.URL)
	if opts.OpenBrowser {
		if err := opts.Open(code.URL); err != nil {
			return fmt.Errorf("opening a browser: %w (open the link above yourself)", err)
		}
	}
	return nil
}

// openBrowser starts the desktop's URL opener; the URL is one argument,
// never through a shell.
func openBrowser(url string) error {
	name := "xdg-open"
	if runtime.GOOS == "darwin" {
		name = "open"
	}
	cmd := exec.Command(name, url)
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
