// Package logs implements `berth logs`.
package logs

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/iostreams"
	"github.com/berth-run/berth/job"
)

// Options are the arguments of `berth logs` and what it needs.
type Options struct {
	IO     *iostreams.IOStreams
	Client func() (*client.Client, error)

	Ref    job.Ref
	Follow bool
	Stderr bool
}

// NewCmdLogs returns the command; runF replaces its behaviour in tests.
func NewCmdLogs(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "logs ID[.INDEX] [-f] [--stderr]",
		Short: "Print a task's output",
		Long: `Print a task's output as it was written, byte for byte.

A task of an array is named ID.INDEX. With -f, keep printing new output
until the task has ended.`,
		Args: cmdutil.ExactArgs(1, "ID or ID.INDEX"),
		RunE: func(cmd *cobra.Command, args []string) error {
			refs, err := cmdutil.ParseRefs(args)
			if err != nil {
				return err
			}
			opts.Ref = refs[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "Follow the output until the task ends")
	cmd.Flags().BoolVar(&opts.Stderr, "stderr", false, "Print the task's stderr instead of its stdout")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	p := client.LogsParams{Stream: client.Stdout, Follow: opts.Follow}
	if opts.Stderr {
		p.Stream = client.Stderr
	}
	rc, err := c.Logs(ctx, opts.Ref, p)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(opts.IO.Out, rc); err != nil {
		return err
	}
	// Output the worker could not write (a full disk) is not in the file:
	// say so, not only in `berth show`.
	if d, err := c.Task(ctx, opts.Ref); err == nil {
		if i := strings.Index(d.Message, job.OutputIncomplete); i >= 0 {
			fmt.Fprintf(opts.IO.ErrOut, "berth: the output of %s is incomplete: %s\n", opts.Ref, d.Message[i+len(job.OutputIncomplete):])
		}
	}
	return nil
}
