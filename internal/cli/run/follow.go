package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/job"
)

// foreground streams a plain job's output while it runs and exits as it did.
func foreground(ctx context.Context, opts *Options, c *client.Client, j *job.Job) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errOut := &syncWriter{w: opts.IO.ErrOut}
	interrupted := watch(ctx, cancel, opts, c, j.ID, errOut)
	ref := job.Ref{Job: j.ID}

	var wg sync.WaitGroup
	if !opts.JSON {
		// Two requests, so stdout and stderr each keep their own order and
		// neither waits on the other.
		for _, s := range []struct {
			stream client.Stream
			w      io.Writer
		}{{client.Stdout, opts.IO.Out}, {client.Stderr, errOut}} {
			wg.Go(func() {
				err := copyLogs(ctx, c, ref, s.stream, s.w)
				if err != nil && ctx.Err() == nil {
					fmt.Fprintf(errOut, "berth: reading %s of job %d: %v\n", s.stream, j.ID, err)
				}
			})
		}
	}
	_, err := c.Wait(ctx, []int64{j.ID}, false, 0)
	wg.Wait()
	if interrupted.Load() && ctx.Err() != nil {
		fmt.Fprintf(errOut, "berth: job %d may still be running\n", j.ID)
		return cmdutil.Exit(cmdutil.ExitInterrupted)
	}
	if err != nil {
		return err
	}
	t, err := c.Task(ctx, ref)
	if err != nil {
		return err
	}
	if opts.JSON {
		if err := cmdutil.PrintJSON(opts.IO.Out, t); err != nil {
			return err
		}
	}
	if interrupted.Load() {
		return cmdutil.Exit(cmdutil.ExitInterrupted)
	}
	if t.State == job.Failed && t.SubState.Kind != job.ReasonExitCode {
		// Say why, as the job's own output may not.
		fmt.Fprintf(errOut, "berth: job %d failed: %s\n", j.ID, FailReason(&t.Task))
	}
	return cmdutil.Exit(ExitCode(&t.Task))
}

func copyLogs(ctx context.Context, c *client.Client, ref job.Ref, s client.Stream, w io.Writer) error {
	rc, err := c.Logs(ctx, ref, client.LogsParams{Stream: s, Follow: true})
	if err != nil {
		return err
	}
	defer rc.Close()
	_, err = io.Copy(w, rc)
	return err
}

// watch handles interrupts while a job is followed: the first stops the
// job (and berth keeps following it to its end), the second gives up
// following by canceling ctx.
func watch(ctx context.Context, cancel func(), opts *Options, c *client.Client, id int64, errOut io.Writer) *atomic.Bool {
	var interrupted atomic.Bool
	sigs, stop := opts.Signals()
	go func() {
		defer stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-sigs:
			}
			if interrupted.Swap(true) {
				cancel()
				return
			}
			fmt.Fprintf(errOut, "berth: stopping job %d (interrupt again to stop waiting)\n", id)
			if _, err := c.Control(ctx, job.Ref{Job: id}, job.Terminate); err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(errOut, "berth: stopping job %d: %v\n", id, err)
			}
		}
	}()
	return &interrupted
}

// ExitCode is the exit code of a shell that ran the task: its exit code,
// 128+N if signal N ended it, 1 if it failed without either.
func ExitCode(t *job.Task) int {
	switch {
	case t.State == job.Done:
		return 0
	case t.Signal != "":
		if n := signalNumber(t.Signal); n > 0 {
			return 128 + n
		}
	case t.ExitCode != nil && *t.ExitCode > 0 && *t.ExitCode < 256:
		return *t.ExitCode
	}
	return cmdutil.ExitFailure
}

// syncWriter serializes writes of the output streamer and of notices.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

var _ io.Writer = (*syncWriter)(nil)
