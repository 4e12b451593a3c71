package run

import (
	"context"
	"fmt"
	"strconv"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/display"
	"github.com/berth-run/berth/internal/cli/tableprinter"
	"github.com/berth-run/berth/job"
)

// waitArray waits for every task of an array job, then prints a summary.
func waitArray(ctx context.Context, opts *Options, c *client.Client, j *job.Job) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errOut := &syncWriter{w: opts.IO.ErrOut}
	interrupted := watch(ctx, cancel, opts, c, j.ID, errOut)
	if opts.IO.IsStderrTTY() {
		fmt.Fprintf(errOut, "job %d: waiting for %d tasks\n", j.ID, j.TaskCount)
	}
	_, err := c.Wait(ctx, []int64{j.ID}, false, 0)
	if interrupted.Load() && ctx.Err() != nil {
		fmt.Fprintf(errOut, "berth: job %d may still be running\n", j.ID)
		return cmdutil.Exit(cmdutil.ExitInterrupted)
	}
	if err != nil {
		return err
	}
	tasks := []*job.Task{}
	for t, err := range c.TasksAll(ctx, j.ID, client.TaskParams{}) {
		if err != nil {
			return err
		}
		tasks = append(tasks, t)
	}
	if opts.JSON {
		if err := cmdutil.PrintJSON(opts.IO.Out, tasks); err != nil {
			return err
		}
	} else if err := summary(opts, tasks, errOut); err != nil {
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

// summary prints a row per task and "N succeeded, M failed".
func summary(opts *Options, tasks []*job.Task, errOut *syncWriter) error {
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
	done := countDone(tasks)
	_, err := fmt.Fprintf(errOut, "%d succeeded, %d failed\n", done, len(tasks)-done)
	return err
}
