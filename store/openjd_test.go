package store

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/job"
)

// TestOpenJD keeps an OpenJD job's templates while a job of its steps
// remains, and not after.
func TestOpenJD(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx := context.Background()
	now := time.Now()
	sub := &job.OpenJDJob{Template: "name: x", Parameters: map[string]string{"P": "1"}}
	id, err := s.OpenJDInsert(ctx, sub, now)
	require.NoError(t, err)
	got, err := s.OpenJDGet(ctx, id)
	require.NoError(t, err)
	require.Equal(t, sub, got)
	_, err = s.OpenJDGet(ctx, id+1)
	require.ErrorIs(t, err, job.ErrNotFound)

	var jobs []int64
	for _, step := range []string{"A", "B"} {
		spec := job.Spec{OpenJD: &job.OpenJDStep{Submission: id, Step: step}}.WithDefaults()
		j, err := s.JobInsert(ctx, &JobInsertParams{Spec: spec, SubmittedAt: now, State: job.Queued})
		require.NoError(t, err)
		jobs = append(jobs, j)
	}
	require.NoError(t, s.JobDelete(ctx, jobs[0]))
	_, err = s.OpenJDGet(ctx, id)
	require.NoError(t, err, "step B still needs it")
	require.NoError(t, s.JobDelete(ctx, jobs[1]))
	_, err = s.OpenJDGet(ctx, id)
	require.ErrorIs(t, err, job.ErrNotFound, "gone with the last step")
}
