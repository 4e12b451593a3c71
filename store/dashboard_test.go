package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/job"
)

func TestDashboardQueries(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	var ids []int64
	for i := range 7 {
		spec := plain("j")
		if i%2 == 1 {
			spec.Pool = "gpu"
		}
		ids = append(ids, insert(t, s, spec))
	}
	arr := insert(t, s, array("arr", 1, 5, 2))
	ids = append(ids, arr)

	// End job 1 Done and job 2 Failed.
	end := func(id int64, st job.State) {
		tk, err := s.TaskGet(ctx, id, 0)
		require.NoError(t, err)
		tk.State = st
		require.NoError(t, s.TasksPutWith(ctx, []TaskPut{{Task: tk, JobEnded: true}}, time.Now()))
	}
	end(ids[0], job.Done)
	end(ids[1], job.Failed)
	ended, failed, err := s.EndedJobCounts(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, ended)
	require.Equal(t, 1, failed)

	jobIDs := func(jobs []*job.Job) []int64 {
		var out []int64
		for _, j := range jobs {
			out = append(out, j.ID)
		}
		return out
	}
	// Newest first, paged by before.
	page, err := s.JobListNewest(ctx, &JobListParams{Limit: 3}, "", 0)
	require.NoError(t, err)
	require.Equal(t, []int64{arr, ids[6], ids[5]}, jobIDs(page))
	page, err = s.JobListNewest(ctx, &JobListParams{Limit: 3}, "", ids[5])
	require.NoError(t, err)
	require.Equal(t, []int64{ids[4], ids[3], ids[2]}, jobIDs(page))
	require.Equal(t, 1, page[0].TaskCount)
	require.Equal(t, job.Queued, page[0].State, "states filled in")
	// Pool and state filters.
	page, err = s.JobListNewest(ctx, &JobListParams{Limit: 10}, "gpu", 0)
	require.NoError(t, err)
	require.Equal(t, []int64{ids[5], ids[3], ids[1]}, jobIDs(page))
	page, err = s.JobListNewest(ctx, &JobListParams{Limit: 10, States: []job.State{job.Done, job.Failed}}, "", 0)
	require.NoError(t, err)
	require.Equal(t, []int64{ids[1], ids[0]}, jobIDs(page))
	require.Equal(t, job.Failed, page[0].State)

	// The grid's states, in index order.
	var got []int
	var states []job.State
	require.NoError(t, s.TaskStates(ctx, arr, func(i int, st job.State) {
		got = append(got, i)
		states = append(states, st)
	}))
	require.Equal(t, []int{1, 3, 5}, got)
	require.Equal(t, []job.State{job.Queued, job.Queued, job.Queued}, states)
}
