// Package receive implements `berth receive`.
package receive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/iostreams"
	"github.com/berth-run/berth/job"
)

// Options are the arguments of `berth receive` and what it needs.
type Options struct {
	IO     *iostreams.IOStreams
	Client func() (*client.Client, error)

	Refs   []job.Ref
	Select cmdutil.Selection
	Keep   bool
	JSON   bool
}

// NewCmdReceive returns the command; runF replaces its behaviour in tests.
func NewCmdReceive(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client}
	cmd := &cobra.Command{
		Use:   "receive {ID[.INDEX]... | --label K=V | --state S | --name GLOB | --all} [--keep] [--json]",
		Short: "Print what tasks produced since the last receive",
		Long: `Print the output and results tasks produced since the last receive (like
PowerShell's Receive-Job), then mark them read unless --keep.

Each task's new stdout goes to stdout and its stderr to stderr; then its
results, one JSON value a line, to stdout (under a header on a terminal).
Output is passed through byte for byte, text or not.

--json prints {"tasks": [...]} as the API returns it: per task its ref,
job name, input line (run --each), state, exit code, stdout, stderr and
results. Output that is not valid UTF-8 comes as text with U+FFFD in
place of the bad bytes, and byte for byte in base64 in stdout_base64 or
stderr_base64.

--label, --state, --name and --all select jobs instead of IDs.`,
		Args: opts.Select.Args("job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			refs, err := cmdutil.ParseRefs(args)
			if err != nil {
				return err
			}
			opts.Refs = refs
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Keep, "keep", false, "Leave the read marks where they are")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, cmdutil.JSONFlagHelp)
	opts.Select.AddFlags(cmd.Flags(), false)
	return cmd
}

// bigAnswer is near the 16 MiB the server returns at most per call: an
// answer that large may have more behind it.
const bigAnswer = 15 << 20

func run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	if opts.Select.Active() {
		if opts.Refs, err = opts.Select.Refs(ctx, c); err != nil {
			return err
		}
	}
	all := []api.Received{}
	var fails cmdutil.Failures
	for _, ref := range opts.Refs {
		for {
			got, err := c.Receive(ctx, []job.Ref{ref}, opts.Keep)
			if cmdutil.IsNoServer(err) {
				return err
			}
			fails.Add(err, func(err error) { fmt.Fprintf(opts.IO.ErrOut, "%s: %v\n", ref, err) })
			if opts.JSON {
				all = append(all, got...)
			} else if err := print(opts.IO, got); err != nil {
				return err
			}
			// With --keep the next call would return the same again.
			if err != nil || opts.Keep || size(got) < bigAnswer {
				break
			}
		}
	}
	if opts.JSON {
		if err := cmdutil.PrintJSON(opts.IO.Out, map[string]any{"tasks": all}); err != nil {
			return err
		}
	}
	return fails.Err()
}

func size(rs []api.Received) int {
	n := 0
	for _, r := range rs {
		n += len(r.Stdout) + len(r.Stderr)
		for _, v := range r.Results {
			n += len(v)
		}
	}
	return n
}

func print(ios *iostreams.IOStreams, rs []api.Received) error {
	for _, r := range rs {
		// Byte for byte: output need not be text.
		out, err := r.StdoutBytes()
		if err != nil {
			return err
		}
		if _, err := ios.Out.Write(out); err != nil {
			return err
		}
		if out, err = r.StderrBytes(); err != nil {
			return err
		}
		if _, err := ios.ErrOut.Write(out); err != nil {
			return err
		}
		if len(r.Results) == 0 {
			continue
		}
		if ios.IsStdoutTTY() {
			fmt.Fprintf(ios.Out, "── results of %s (%s) ──\n", r.Ref, r.State)
		}
		for _, v := range r.Results {
			// One value a line, whatever the spacing it came with.
			var b bytes.Buffer
			if json.Compact(&b, v) != nil {
				b.Reset()
				b.Write(v)
			}
			b.WriteByte('\n')
			if _, err := ios.Out.Write(b.Bytes()); err != nil {
				return err
			}
		}
	}
	return nil
}
