package cmdutil

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berth-run/berth/job"
)

// MinArgs is cobra.MinimumNArgs returning a FlagError that says what is
// missing.
func MinArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return FlagErrorf("%s: missing %s", cmd.CommandPath(), what)
		}
		return nil
	}
}

// ExactArgs is cobra.ExactArgs returning a FlagError.
func ExactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return FlagErrorf("%s: want exactly %d argument (%s), got %d", cmd.CommandPath(), n, what, len(args))
		}
		return nil
	}
}

// NoArgs is cobra.NoArgs returning a FlagError.
func NoArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return FlagErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args[0])
	}
	return nil
}

// ParseRefs parses job or task references ("7", "7.3").
func ParseRefs(args []string) ([]job.Ref, error) {
	refs := make([]job.Ref, 0, len(args))
	for _, a := range args {
		r, err := job.ParseRef(a)
		if err != nil {
			return nil, &FlagError{Err: err}
		}
		refs = append(refs, r)
	}
	return refs, nil
}

// ParseIDs parses job IDs; a task reference is refused.
func ParseIDs(args []string) ([]int64, error) {
	ids := make([]int64, 0, len(args))
	for _, a := range args {
		id, err := ParseID(a)
		if err != nil {
			return nil, &FlagError{Err: err}
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// ParseID parses one job ID.
func ParseID(s string) (int64, error) {
	r, err := job.ParseRef(s)
	if err != nil {
		return 0, err
	}
	if r.HasIndex {
		return 0, fmt.Errorf("%q names a task: want a job ID", s)
	}
	return r.Job, nil
}
