// Package show implements `berth show`.
package show

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/cli/display"
	"github.com/berth-run/berth/internal/cli/iostreams"
	"github.com/berth-run/berth/internal/cli/tableprinter"
	"github.com/berth-run/berth/job"
)

// Options are the arguments of `berth show` and what it needs.
type Options struct {
	IO     *iostreams.IOStreams
	Client func() (*client.Client, error)
	Now    func() time.Time

	Ref  job.Ref
	JSON bool
}

// Shown is what --json prints: the job and its tasks (for a plain job or
// one task, the task with its history); for an OpenJD job, the jobs of its
// steps, and no tasks of its own.
type Shown struct {
	Job   *job.Job   `json:"job"`
	Tasks []any      `json:"tasks"`
	Steps []*job.Job `json:"steps,omitempty"`
}

// NewCmdShow returns the command; runF replaces its behaviour in tests.
func NewCmdShow(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "show ID[.INDEX] [--json]",
		Short: "Show a job or a task in full",
		Long: `Show everything berth knows of a job: its spec and state, and a table
of its tasks for an array, or for a plain job or one task (ID.INDEX): its
attempt, worker, host, PID or container (its host name, and its published
ports with the host ports the engine bound), exit code, signal, times,
CPU, peak memory, output files and state history. For an OpenJD job, a
table of its steps' jobs.

--json prints {"job": JOB, "tasks": [TASK...]}; for a plain job or a task
the one TASK carries its "history"; for an OpenJD job, "steps": [JOB...].`,
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
	cmd.Flags().BoolVar(&opts.JSON, "json", false, cmdutil.JSONFlagHelp)
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	j, err := c.Job(ctx, opts.Ref.Job)
	if err != nil {
		return err
	}
	out := Shown{Job: j, Tasks: []any{}}
	if j.HasSteps() && !opts.Ref.HasIndex {
		return showSteps(ctx, opts, c, &out)
	}
	var detail *api.TaskDetail
	var tasks []*job.Task
	if opts.Ref.HasIndex || !j.IsArray() {
		if detail, err = c.Task(ctx, opts.Ref); err != nil {
			return err
		}
		out.Tasks = append(out.Tasks, detail)
	} else {
		for t, err := range c.TasksAll(ctx, j.ID, client.TaskParams{}) {
			if err != nil {
				return err
			}
			tasks = append(tasks, t)
			out.Tasks = append(out.Tasks, t)
		}
	}
	if opts.JSON {
		return cmdutil.PrintJSON(opts.IO.Out, out)
	}
	p := &printer{w: opts.IO.Out, tty: opts.IO.IsStdoutTTY(), now: opts.Now()}
	p.job(j)
	if detail != nil {
		fmt.Fprintln(p.w)
		p.task(detail)
		return nil
	}
	fmt.Fprintln(p.w)
	return taskTable(p, j, tasks)
}

type printer struct {
	w   io.Writer
	tty bool
	now time.Time
}

// field prints "Key:  value", skipping empty values.
func (p *printer) field(key, value string) {
	if value == "" {
		return
	}
	fmt.Fprintf(p.w, "%-12s %s\n", key+":", value)
}

func (p *printer) time(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	if p.tty {
		return t.Local().Format(time.DateTime) + " (" + tableprinter.Relative(p.now, *t) + ")"
	}
	return t.UTC().Format(time.RFC3339)
}

func (p *printer) job(j *job.Job) {
	p.fields(display.JobFields(j, p.formats()))
	p.field("Unread", display.Bool(p.tty, j.HasMoreData))
}

// formats are how times, durations and sizes read here: for people on a
// terminal, exact elsewhere.
func (p *printer) formats() display.Formats {
	return display.Formats{
		Time:     p.time,
		Duration: func(d time.Duration) string { return tableprinter.Duration(p.tty, d) },
		Bytes: func(n int64) string {
			if p.tty || n == 0 {
				return display.Bytes(n)
			}
			return strconv.FormatInt(n, 10)
		},
	}
}

func (p *printer) fields(fs []display.Field) {
	for _, f := range fs {
		p.field(f.Key, f.Value)
	}
}

func (p *printer) task(t *api.TaskDetail) {
	p.fields(display.TaskFields(&t.Task, p.now, p.formats()))
	if len(t.History) == 0 {
		return
	}
	fmt.Fprintln(p.w, "\nHistory:")
	// A retried attempt's note: why it failed, and when the next was due.
	notes := make([]string, len(t.History))
	cols := []string{"TIME", "ATTEMPT", "STATE", "REASON"}
	for i, h := range t.History {
		notes[i] = h.Message
		if h.RetryAt != nil {
			notes[i] = strings.TrimPrefix(notes[i]+"; next attempt at "+p.time(h.RetryAt), "; ")
		}
		if notes[i] != "" && len(cols) == 4 {
			cols = append(cols, "NOTE")
		}
	}
	tw := tableprinter.New(p.w, p.tty, cols...)
	for i, h := range t.History {
		ts := h.Time.UTC().Format(time.RFC3339)
		if p.tty {
			ts = h.Time.Local().Format(time.DateTime)
		}
		row := []string{ts, strconv.Itoa(h.Attempt), string(h.State), h.SubState.String()}
		if len(cols) == 5 {
			row = append(row, notes[i])
		}
		tw.AddRow(row...)
	}
	_ = tw.Render()
}

func taskTable(p *printer, j *job.Job, tasks []*job.Task) error {
	header := []string{"INDEX", "STATE", "REASON", "EXIT", "ATTEMPT", "WORKER", "DURATION"}
	if len(j.Inputs) > 0 {
		header = append(header[:1:1], append([]string{"INPUT"}, header[1:]...)...)
	}
	t := tableprinter.New(p.w, p.tty, header...)
	for _, tk := range tasks {
		row := []string{strconv.Itoa(tk.Index), string(tk.State), tk.SubState.String(), display.ExitCode(tk.ExitCode),
			strconv.Itoa(tk.Attempt), tk.Worker, tableprinter.Duration(p.tty, tk.Duration(p.now))}
		if len(j.Inputs) > 0 {
			row = append(row[:1:1], append([]string{tk.Input}, row[1:]...)...)
		}
		t.AddRow(row...)
	}
	return t.Render()
}

// showSteps shows an OpenJD job: its own fields, then its steps' jobs.
func showSteps(ctx context.Context, opts *Options, c *client.Client, out *Shown) error {
	out.Steps = []*job.Job{}
	if len(out.Job.Steps) > 0 {
		for j, err := range c.JobsAll(ctx, client.ListParams{IDs: out.Job.Steps}) {
			if err != nil {
				return err
			}
			out.Steps = append(out.Steps, j)
		}
	}
	if opts.JSON {
		return cmdutil.PrintJSON(opts.IO.Out, out)
	}
	p := &printer{w: opts.IO.Out, tty: opts.IO.IsStdoutTTY(), now: opts.Now()}
	p.job(out.Job)
	fmt.Fprintln(p.w)
	t := tableprinter.New(p.w, p.tty, "JOB", "STEP", "STATE", "TASKS", "DONE", "FAILED", "UNREAD")
	for _, s := range out.Steps {
		step := ""
		if s.OpenJD != nil {
			step = s.OpenJD.Step
		}
		t.AddRow(strconv.FormatInt(s.ID, 10), step, string(s.State), strconv.Itoa(s.TaskCount),
			strconv.Itoa(s.Tasks[job.Done]), strconv.Itoa(s.Tasks[job.Failed]), display.Bool(p.tty, s.HasMoreData))
	}
	return t.Render()
}
