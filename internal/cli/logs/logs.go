// Package logs implements `berth logs`.
package logs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/api"
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
	// Stdout and Stderr print that stream alone; neither prints both.
	Stdout bool
	Stderr bool
	// Tail, when 0 or more, prints only the last Tail lines (then
	// follows, with Follow); -1 prints everything.
	Tail       int
	Timestamps bool
	// Since is --since as given: a duration back from now, or a time.
	Since string
	// Now is the clock --since counts back from.
	Now func() time.Time
}

// NewCmdLogs returns the command; runF replaces its behaviour in tests.
func NewCmdLogs(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Tail: -1, Now: time.Now}
	cmd := &cobra.Command{
		Use:   "logs ID[.INDEX] [-f] [--tail N] [--since T] [-t] [--stdout|--stderr]",
		Short: "Print a task's output (or every task's of a job)",
		Long: `Print a task's output: its stdout and stderr, line by line in the order
the lines arrived. --stdout or --stderr prints that stream alone, as it
was written, byte for byte.

A task of an array is named ID.INDEX. With -f, keep printing new output
until the task has ended; a restart of the server meanwhile is ridden out
(for up to a minute), going on where it was. --tail N prints only the last
N lines (then follows, with -f). --since prints only the lines that
arrived since a time (2026-12-07T10:00:00Z) or for a duration (10m, 2h);
-t prefixes each line with the time it arrived, as docker logs -t does.

While the task runs, an unfinished last line of both streams (or with
-t or --since) waits for its newline. Output of an OpenJD session, or
written by a berth older than these flags, has no arrival times: it
prints stdout, then stderr, and -t and --since are refused.

For a whole array or OpenJD job (ID without INDEX), each task's output in
turn, in index order (an OpenJD job's step by step), each under a line
"==> ID.INDEX <==" as tail prints several files; with -f each task is
followed to its end in turn.`,
		Args: cmdutil.ExactArgs(1, "ID or ID.INDEX"),
		RunE: func(cmd *cobra.Command, args []string) error {
			refs, err := cmdutil.ParseRefs(args)
			if err != nil {
				return err
			}
			opts.Ref = refs[0]
			if opts.Stdout && opts.Stderr {
				return cmdutil.FlagErrorf("--stdout and --stderr exclude each other; give neither for both")
			}
			if _, err := parseSince(opts.Since, opts.Now()); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Follow, "follow", "f", false, "Follow the output until the task ends")
	cmd.Flags().BoolVar(&opts.Stdout, "stdout", false, "Print the task's stdout alone")
	cmd.Flags().BoolVar(&opts.Stderr, "stderr", false, "Print the task's stderr alone")
	cmdutil.IntRangeVar(cmd.Flags(), &opts.Tail, "tail", "", 0, math.MaxInt32, "Print only the last `N` lines")
	cmd.Flags().BoolVarP(&opts.Timestamps, "timestamps", "t", false, "Prefix each line with the time it arrived")
	cmd.Flags().StringVar(&opts.Since, "since", "", "Print only lines that arrived since `TIME` (RFC 3339) or for a duration (10m)")
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	if !opts.Ref.HasIndex {
		refs, err := taskRefs(ctx, c, opts.Ref.Job)
		if err != nil {
			return err
		}
		if refs != nil {
			return each(ctx, c, opts, refs)
		}
	}
	return runOne(ctx, c, opts)
}

// runOne prints the output of the one task opts.Ref names.
func runOne(ctx context.Context, c *client.Client, opts *Options) error {
	var err error
	p := client.LogsParams{Stream: client.Both, Timestamps: opts.Timestamps}
	switch {
	case opts.Stdout:
		p.Stream = client.Stdout
	case opts.Stderr:
		p.Stream = client.Stderr
	}
	if p.Since, err = parseSince(opts.Since, opts.Now()); err != nil {
		return err
	}
	if opts.Tail >= 0 {
		if p.Offset, err = tail(ctx, c, opts.Ref, p, opts.Tail, opts.IO.Out); err != nil {
			return err
		}
	}
	if opts.Tail < 0 || opts.Follow {
		p.Follow = opts.Follow
		if err := follow(ctx, c, opts.Ref, p, opts.IO.Out); err != nil {
			return err
		}
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

// follow copies the stream from offset on; following, it rides out a
// restart of the server as berth wait does: when the stream breaks, or
// ends while the task has not, it asks again from where it was, until
// the server is back or client.RestartGrace has passed.
func follow(ctx context.Context, c *client.Client, ref job.Ref, p client.LogsParams, w io.Writer) error {
	var outage time.Time // when the server went away; zero while it answers
	delay := 100 * time.Millisecond
	for {
		n, err := copyFrom(ctx, c, ref, p, w)
		p.Offset += n
		if !p.Follow || ctx.Err() != nil {
			return err
		}
		if err == nil {
			// The stream ended: the task's end, or the server's.
			var d *api.TaskDetail
			if d, err = c.Task(ctx, ref); err == nil {
				if d.State.Terminal() {
					// Anything written between the last read and the end.
					p.Follow = false
					_, err = copyFrom(ctx, c, ref, p, w)
					return err
				}
				outage, delay = time.Time{}, 100*time.Millisecond
				continue
			}
		}
		if n > 0 {
			outage = time.Time{}
		}
		if !restarting(err, !outage.IsZero()) {
			return err
		}
		if outage.IsZero() {
			outage = time.Now()
		}
		if time.Since(outage) > client.RestartGrace {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// copyFrom copies one request's worth of the stream and says how much.
func copyFrom(ctx context.Context, c *client.Client, ref job.Ref, p client.LogsParams, w io.Writer) (int64, error) {
	rc, err := c.Logs(ctx, ref, p)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(w, rc)
}

// restarting reports an error that a restart of the server explains: it
// shuts down (503), the connection broke, or, once it went away, nobody
// answers yet.
func restarting(err error, away bool) bool {
	var apiErr *client.APIError
	var noServer *client.NoServerError
	switch {
	case errors.As(err, &apiErr):
		return apiErr.Code == api.CodeUnavailable
	case errors.As(err, &noServer):
		return away
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)
}

// tail prints the last n lines of the stream and returns the offset after
// them, where following goes on.
func tail(ctx context.Context, c *client.Client, ref job.Ref, p client.LogsParams, n int, w io.Writer) (int64, error) {
	rc, err := c.Logs(ctx, ref, p)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	// Keep the last n lines of what arrives (the last may be unfinished).
	var lines [][]byte
	var size int64
	r := bufio.NewReaderSize(rc, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		size += int64(len(line))
		if len(line) > 0 {
			if lines = append(lines, line); len(lines) > n {
				lines = lines[1:]
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
	}
	for _, l := range lines {
		if _, err := w.Write(l); err != nil {
			return 0, err
		}
	}
	return size, nil
}

// parseSince reads --since: empty, an RFC 3339 time, or a duration back
// from now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := job.ParseDuration(s)
	if err != nil || d.Std() < 0 {
		return time.Time{}, cmdutil.FlagErrorf("invalid --since %q: want a duration (10m, 2h) or an RFC 3339 time (2026-12-07T10:00:00Z)", s)
	}
	return now.Add(-d.Std()), nil
}
