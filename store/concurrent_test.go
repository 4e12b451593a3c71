package store

import (
	"context"
	"sync"
	"testing"

	"github.com/berth-run/berth/job"
)

// TestConcurrentReadersOneWriter runs readers of every kind against a writer
// inserting jobs and moving their tasks through states; under -race it also
// checks the Store's own synchronization. Readers must never see a job
// without all its tasks.
func TestConcurrentReadersOneWriter(t *testing.T) {
	t.Parallel()
	s := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()

	var wg sync.WaitGroup
	errc := make(chan error, 16)
	wg.Go(func() {
		defer cancel()
		for i := range 20 {
			id, err := s.JobInsert(ctx, &JobInsertParams{Spec: array("w", 1, 50+i, 1).WithDefaults(), SubmittedAt: t0, State: job.Queued})
			if err != nil {
				errc <- err
				return
			}
			var ts []*job.Task
			for k := 1; k <= 50+i; k++ {
				ts = append(ts, &job.Task{JobID: id, Index: k, State: job.Done, Info: job.Info{Attempt: 1}})
			}
			if err := s.TasksPut(ctx, ts, t0); err != nil {
				errc <- err
				return
			}
			if i%5 == 0 {
				if err := s.JobDelete(ctx, id); err != nil {
					errc <- err
					return
				}
			}
		}
	})
	for range 3 {
		wg.Go(func() {
			for ctx.Err() == nil {
				jobs, err := s.JobList(ctx, &JobListParams{})
				if err != nil {
					if ctx.Err() == nil {
						errc <- err
					}
					return
				}
				for _, j := range jobs {
					n := 0
					for _, c := range j.Tasks {
						n += c
					}
					if n != j.TaskCount {
						t.Errorf("job %d: %d tasks counted, TaskCount %d", j.ID, n, j.TaskCount)
					}
					if (j.FinishedAt != nil) != j.State.Terminal() {
						t.Errorf("job %d: state %s with FinishedAt %v", j.ID, j.State, j.FinishedAt)
					}
					if _, err := s.TaskList(ctx, &TaskListParams{JobID: j.ID, AfterIndex: -1}); err != nil && ctx.Err() == nil && !isNotFound(err) {
						errc <- err
						return
					}
				}
				err = s.TasksActive(ctx, func(*ActiveTask) error { return nil })
				if err != nil && ctx.Err() == nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}
