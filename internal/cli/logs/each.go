package logs

import (
	"context"
	"fmt"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/job"
)

// taskRefs returns the tasks of job id, in index order, when it has more
// than its one task: an array, or an OpenJD job (its steps' tasks, step by
// step). nil for a plain job.
func taskRefs(ctx context.Context, c *client.Client, id int64) ([]job.Ref, error) {
	j, err := c.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	jobs := []int64{id}
	switch {
	case j.HasSteps():
		jobs = j.Steps
	case !j.IsArray():
		return nil, nil
	}
	refs := []job.Ref{}
	for _, jid := range jobs {
		for t, err := range c.TasksAll(ctx, jid, client.TaskParams{}) {
			if err != nil {
				return nil, err
			}
			refs = append(refs, t.Ref())
		}
	}
	return refs, nil
}

// each prints the output of every task of refs in turn, each under a
// header line.
func each(ctx context.Context, c *client.Client, opts *Options, refs []job.Ref) error {
	for i, ref := range refs {
		if i > 0 {
			fmt.Fprintln(opts.IO.Out)
		}
		fmt.Fprintf(opts.IO.Out, "==> %s <==\n", ref)
		one := *opts
		one.Ref = ref
		if err := runOne(ctx, c, &one); err != nil {
			return err
		}
	}
	return nil
}
