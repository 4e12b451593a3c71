package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/job"
)

// TestOpenJD keeps an OpenJD job's templates and its parent job while a
// job of its steps remains, and not after; the parent sums up its steps.
func TestOpenJD(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	now := time.Now()
	sub := &job.OpenJDJob{Template: "name: x", Parameters: map[string]string{"P": "1"}}
	id, pid, err := s.OpenJDInsert(ctx, sub, job.Spec{Name: "x", Labels: map[string]string{"team": "a"}}, now)
	require.NoError(t, err)
	got, err := s.OpenJDGet(ctx, id)
	require.NoError(t, err)
	require.Equal(t, sub, got)
	_, err = s.OpenJDGet(ctx, id+1)
	require.ErrorIs(t, err, job.ErrNotFound)

	var jobs []int64
	for i, step := range []string{"A", "B"} {
		spec := job.Spec{OpenJD: &job.OpenJDStep{Submission: id, Step: step, Job: pid}}
		if i == 1 {
			spec.Array = &job.Array{Begin: 1, End: 3, Step: 1}
		}
		spec = spec.WithDefaults()
		j, err := s.JobInsert(ctx, &JobInsertParams{Spec: spec, SubmittedAt: now, State: job.Queued})
		require.NoError(t, err)
		jobs = append(jobs, j)
	}
	p, err := s.JobGet(ctx, pid)
	require.NoError(t, err)
	require.True(t, p.HasSteps())
	require.Equal(t, jobs, p.Steps)
	require.Equal(t, 4, p.TaskCount)
	require.Equal(t, map[job.State]int{job.Queued: 4}, p.Tasks)
	require.Equal(t, job.Queued, p.State)
	require.Equal(t, "a", p.Labels["team"])
	require.ErrorIs(t, s.JobDelete(ctx, pid), job.ErrInvalidState, "its steps go first")

	// The parent ends with its last step.
	end := func(jid int64, idx int) {
		t.Helper()
		code := 0
		require.NoError(t, s.TasksPut(ctx, []*job.Task{{JobID: jid, Index: idx, State: job.Done, Info: job.Info{ExitCode: &code}}}, now))
	}
	end(jobs[0], 0)
	ended, err := s.JobList(ctx, &JobListParams{States: []job.State{job.Done}})
	require.NoError(t, err)
	require.Len(t, ended, 1, "step A only")
	for i := 1; i <= 3; i++ {
		end(jobs[1], i)
	}
	p, err = s.JobGet(ctx, pid)
	require.NoError(t, err)
	require.Equal(t, job.Done, p.State)
	require.NotNil(t, p.FinishedAt)
	old, err := s.JobsEndedBefore(ctx, now.Add(time.Hour), 10)
	require.NoError(t, err)
	require.Equal(t, jobs, old, "retention takes the steps; the parent goes with them")

	require.NoError(t, s.JobDelete(ctx, jobs[0]))
	_, err = s.OpenJDGet(ctx, id)
	require.NoError(t, err, "step B still needs it")
	_, err = s.JobGet(ctx, pid)
	require.NoError(t, err)
	deleted, err := s.JobDeleteEnded(ctx, jobs[1])
	require.NoError(t, err)
	require.True(t, deleted)
	_, err = s.OpenJDGet(ctx, id)
	require.ErrorIs(t, err, job.ErrNotFound, "gone with the last step")
	_, err = s.JobGet(ctx, pid)
	require.ErrorIs(t, err, job.ErrNotFound, "gone with the last step")
}
