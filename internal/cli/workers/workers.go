// Package workers implements `berth workers`.
package workers

import (
	"context"
	"slices"
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
)

// Options are the flags of `berth workers` and what it needs.
type Options struct {
	IO     *iostreams.IOStreams
	Client func() (*client.Client, error)
	Now    func() time.Time

	JSON bool
}

// NewCmdWorkers returns the command; runF replaces its behaviour in tests.
func NewCmdWorkers(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Client: f.Client, Now: f.Now}
	cmd := &cobra.Command{
		Use:   "workers [--json]",
		Short: "List the workers the server heard from recently",
		Long: `List the workers the server heard from recently.

Columns: WORKER, HOST, POOL, SLOTS, RUNNING (attempts it holds), FREE (slots), LABELS, ALIVE,
LAST SEEN, VERSION.`,
		Args: cmdutil.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, cmdutil.JSONFlagHelp)
	cmd.AddCommand(newCmdAdd(f), newCmdRm(f))
	return cmd
}

func run(ctx context.Context, opts *Options) error {
	c, err := opts.Client()
	if err != nil {
		return err
	}
	ws, err := c.Workers(ctx)
	if err != nil {
		return err
	}
	if opts.JSON {
		if ws == nil {
			ws = []api.WorkerStatus{}
		}
		return cmdutil.PrintJSON(opts.IO.Out, ws)
	}
	tty := opts.IO.IsStdoutTTY()
	t := tableprinter.New(opts.IO.Out, tty, "WORKER", "HOST", "POOL", "SLOTS", "RUNNING", "FREE", "LABELS", "ALIVE", "LAST SEEN", "VERSION")
	for _, w := range ws {
		labels := make([]string, 0, len(w.Labels))
		for k, v := range w.Labels {
			labels = append(labels, k+"="+v)
		}
		slices.Sort(labels)
		t.AddRow(w.Worker, w.Host, w.Pool, strconv.Itoa(w.Slots), strconv.Itoa(len(w.Running)),
			strconv.Itoa(max(w.Slots-len(w.Running), 0)), strings.Join(labels, ","),
			display.Bool(tty, w.Alive), tableprinter.Time(tty, opts.Now(), w.LastSeen), w.Version)
	}
	return t.Render()
}
