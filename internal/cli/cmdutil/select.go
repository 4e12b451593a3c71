package cmdutil

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/iostreams"
	"github.com/berth-run/berth/job"
)

// Selection picks jobs by what they are instead of by ID: the --label,
// --state, --name and --all flags of the commands that act on jobs.
type Selection struct {
	States []job.State
	Name   string
	Labels map[string]string
	All    bool
	// Before, when set (berth rm --before), selects only the jobs that
	// ended more than this long ago.
	Before job.Duration
	// Yes skips the confirmation of a destructive verb on a terminal.
	Yes bool
}

// AddFlags adds the selection flags; destructive adds --yes.
func (s *Selection) AddFlags(fs *pflag.FlagSet, destructive bool) {
	StatesVar(fs, &s.States, "state", "Act on the jobs in these states (comma-separated, repeatable) instead of IDs")
	fs.StringVar(&s.Name, "name", "", "Act on the jobs whose name matches this shell glob instead of IDs")
	KVVar(fs, &s.Labels, "label", "Act on the jobs with this label (repeatable; all must match) instead of IDs")
	fs.BoolVar(&s.All, "all", false, "Act on every job")
	if destructive {
		fs.BoolVarP(&s.Yes, "yes", "y", false, "Do not ask for confirmation on a terminal")
	}
}

// Active reports whether any selection flag is set.
func (s *Selection) Active() bool {
	return s.All || len(s.States) > 0 || s.Name != "" || len(s.Labels) > 0 || s.Before > 0
}

// Args checks a command's arguments against the selection: IDs or a
// selection, not both, and one of them.
func (s *Selection) Args(what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) > 0 && s.Active():
			return FlagErrorf("%s: give %ss or select with --label, --state, --name or --all, not both", cmd.CommandPath(), what)
		case len(args) == 0 && !s.Active():
			return FlagErrorf("%s: missing %s (or select jobs with --label, --state, --name or --all)", cmd.CommandPath(), what)
		}
		return nil
	}
}

// IDs returns the IDs of the selected jobs, in ID order.
func (s *Selection) IDs(ctx context.Context, c *client.Client) ([]int64, error) {
	var ids []int64
	cutoff := time.Now().Add(-s.Before.Std())
	for j, err := range c.JobsAll(ctx, client.ListParams{States: s.States, Name: s.Name, Labels: s.Labels}) {
		if err != nil {
			return nil, err
		}
		if s.Before > 0 && (j.FinishedAt == nil || !j.FinishedAt.Before(cutoff)) {
			continue
		}
		ids = append(ids, j.ID)
	}
	return ids, nil
}

// Refs is IDs as job references.
func (s *Selection) Refs(ctx context.Context, c *client.Client) ([]job.Ref, error) {
	ids, err := s.IDs(ctx, c)
	if err != nil {
		return nil, err
	}
	refs := make([]job.Ref, len(ids))
	for i, id := range ids {
		refs[i] = job.Ref{Job: id}
	}
	return refs, nil
}

// Confirm asks, when stdin and stderr are terminals and --yes was not
// given, whether verb may act on n selected jobs. Anywhere else it goes on:
// scripts say what they want.
func (s *Selection) Confirm(io *iostreams.IOStreams, verb string, n int) (bool, error) {
	if s.Yes || n == 0 || !io.IsStdinTTY() || !io.IsStderrTTY() {
		return true, nil
	}
	fmt.Fprintf(io.ErrOut, "%s %d job(s)? [y/N] ", verb, n)
	line, err := bufio.NewReader(io.In).ReadString('\n')
	if err != nil && line == "" {
		return false, nil
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes", nil
}

// ConfirmOrCancel is Confirm returning an error that ends the command
// (exit 1, "canceled") when the answer is no.
// done is what the verb did, for the message ("stopped").
func (s *Selection) ConfirmOrCancel(io *iostreams.IOStreams, verb, done string, n int) error {
	ok, err := s.Confirm(io, verb, n)
	if err != nil {
		return err
	}
	if !ok {
		return &ExitError{Code: ExitFailure, Err: fmt.Errorf("canceled: no job was %s", done)}
	}
	return nil
}
