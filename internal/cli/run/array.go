package run

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/display"
	"github.com/berth-run/berth/internal/cli/tableprinter"
	"github.com/berth-run/berth/job"
)

// stderrTailLines is how many of a failed task's last stderr lines the
// summary shows, so that nobody has to run logs once per failure.
const stderrTailLines = 5

// progressGap is the least time between two reads of an array job's
// counts for its progress line.
const progressGap = 200 * time.Millisecond

// waitArray waits for every task of an array job, showing progress, then
// prints a summary.
func waitArray(ctx context.Context, opts *Options, c *client.Client, j *job.Job) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errOut := &syncWriter{w: opts.IO.ErrOut}
	interrupted := watch(ctx, cancel, opts, c, j.ID, errOut)
	fmt.Fprintf(errOut, "job %d: %d tasks\n", j.ID, j.TaskCount)
	p := &progress{w: errOut, tty: opts.IO.IsStderrTTY(), id: j.ID, total: j.TaskCount,
		start: opts.Now(), now: opts.Now, every: opts.progressEvery, gap: progressGap, counts: countStates(j.Tasks)}
	p.last = p.counts // off a terminal, the first line is the first change
	pctx, stopProgress := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { p.follow(pctx, c) })
	_, err := c.Wait(ctx, []int64{j.ID}, false, 0)
	stopProgress()
	wg.Wait()
	if interrupted.Load() && ctx.Err() != nil {
		p.finish()
		fmt.Fprintf(errOut, "berth: job %d may still be running\n", j.ID)
		return cmdutil.Exit(cmdutil.ExitInterrupted)
	}
	if err != nil {
		p.finish()
		return err
	}
	tasks := []*job.Task{}
	for t, err := range c.TasksAll(ctx, j.ID, client.TaskParams{}) {
		if err != nil {
			p.finish()
			return err
		}
		tasks = append(tasks, t)
	}
	p.set(countTasks(tasks))
	p.finish()
	if opts.JSON {
		if err := cmdutil.PrintJSON(opts.IO.Out, tasks); err != nil {
			return err
		}
	} else if err := summary(ctx, opts, c, tasks, errOut); err != nil {
		return err
	}
	switch {
	case interrupted.Load():
		return cmdutil.Exit(cmdutil.ExitInterrupted)
	case countDone(tasks) != len(tasks):
		return cmdutil.Exit(cmdutil.ExitFailure)
	}
	return nil
}

func countDone(tasks []*job.Task) int {
	n := 0
	for _, t := range tasks {
		if t.State == job.Done {
			n++
		}
	}
	return n
}

// summary prints a row per task, then for each failed task why and the
// last lines of its stderr, then "N succeeded, M failed".
func summary(ctx context.Context, opts *Options, c *client.Client, tasks []*job.Task, errOut io.Writer) error {
	tty := opts.IO.IsStdoutTTY()
	now := opts.Now()
	t := tableprinter.New(opts.IO.Out, tty, "INDEX", "INPUT", "STATE", "EXIT", "DURATION")
	for _, tk := range tasks {
		t.AddRow(strconv.Itoa(tk.Index), tk.Input, string(tk.State), display.ExitCode(tk.ExitCode),
			tableprinter.Duration(tty, tk.Duration(now)))
	}
	if err := t.Render(); err != nil {
		return err
	}
	for _, tk := range tasks {
		if tk.State != job.Failed {
			continue
		}
		what := "task " + tk.Ref().String()
		if tk.Input != "" {
			what += " (" + tk.Input + ")"
		}
		fmt.Fprintf(errOut, "%s failed: %s\n", what, FailReason(tk))
		lines, err := stderrTail(ctx, c, tk.Ref(), stderrTailLines)
		if err != nil {
			fmt.Fprintf(errOut, "  (its stderr could not be read: %v)\n", err)
		}
		for _, l := range lines {
			fmt.Fprintf(errOut, "  | %s\n", l)
		}
	}
	done := countDone(tasks)
	_, err := fmt.Fprintf(errOut, "%d succeeded, %d failed\n", done, len(tasks)-done)
	return err
}

// FailReason says in words why a failed task failed, and what berth was
// told.
func FailReason(t *job.Task) string {
	v := t.SubState.Value
	why, ok := map[job.Reason]string{
		job.ReasonNone:        "failed",
		job.ReasonExitCode:    "exit code " + v,
		job.ReasonSignal:      "killed by " + v,
		job.ReasonTimeLimit:   "time limit reached",
		job.ReasonCanceled:    "stopped",
		job.ReasonDependency:  "job " + v + " it waited for failed",
		job.ReasonLost:        "its worker was lost",
		job.ReasonStartFailed: "could not start",
		job.ReasonOOM:         "out of memory",
		job.ReasonNoImage:     "image not found",
		job.ReasonPullFailed:  "image pull failed",
		job.ReasonShutdown:    "its worker shut down",
		job.ReasonStageOut:    "copying its files out failed",
	}[t.SubState.Kind]
	if !ok {
		why = t.SubState.String()
	}
	if m := strings.TrimSpace(t.Message); m != "" {
		why += ": " + m
	}
	return why
}

// tailKeep bounds what stderrTail keeps of a stderr however large.
const tailKeep = 16 << 10

// stderrTail returns the last n lines of a task's stderr.
func stderrTail(ctx context.Context, c *client.Client, ref job.Ref, n int) ([]string, error) {
	rc, err := c.Logs(ctx, ref, client.LogsParams{Stream: client.Stderr})
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var keep []byte
	buf := make([]byte, 32<<10)
	for {
		m, err := rc.Read(buf)
		keep = append(keep, buf[:m]...)
		if len(keep) > 2*tailKeep {
			keep = append(keep[:0], keep[len(keep)-tailKeep:]...)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return lastLines(keep, n), nil
}

// lastLines returns the last n non-empty lines of b.
func lastLines(b []byte, n int) []string {
	var out []string
	for _, l := range bytes.Split(bytes.TrimRight(b, "\r\n"), []byte("\n")) {
		l = bytes.TrimRight(l, "\r")
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		out = append(out, string(l))
	}
	if len(out) > n {
		out = out[len(out)-n:]
	}
	return out
}
