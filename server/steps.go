package server

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/scheduler"
)

// An OpenJD job is one job with no tasks of its own whose steps are jobs
// (job.Job.Steps). The scheduler knows only the steps: the verbs that act
// on the whole OpenJD job act on each of its steps here.

// withSteps returns the job id if it stands for a whole OpenJD job, nil if
// it is any other job, and the error of reading it.
func (s *Server) withSteps(ctx context.Context, id int64) (*job.Job, error) {
	j, err := s.cfg.Store.JobGet(ctx, id)
	if err != nil {
		return nil, err
	}
	if !j.HasSteps() {
		return nil, nil
	}
	return j, nil
}

// stepsHint names where the tasks of OpenJD job p are.
func stepsHint(p *job.Job) string {
	ids := make([]string, len(p.Steps))
	for i, id := range p.Steps {
		ids[i] = fmt.Sprint(id)
	}
	return fmt.Sprintf("job %d is an OpenJD job; its tasks are those of its steps' jobs (%s): name one as JOB.INDEX",
		p.ID, strings.Join(ids, ", "))
}

// controlSteps applies an action to every step of OpenJD job p. It
// succeeds if it applied to any; else it returns the first refusal.
func (s *Server) controlSteps(ctx context.Context, p *job.Job, action job.Action, opts scheduler.StopOptions) (int, error) {
	total := 0
	var refusal error
	for _, id := range p.Steps {
		n, err := s.cfg.Scheduler.ControlStop(ctx, job.Ref{Job: id}, action, opts)
		switch {
		case errors.Is(err, job.ErrInvalidState) || errors.Is(err, job.ErrNotFound):
			if refusal == nil {
				refusal = err
			}
		case err != nil:
			return total, err
		}
		total += n
	}
	if total == 0 && refusal != nil {
		return 0, fmt.Errorf("%w: no step of OpenJD job %d applies (%s)", job.ErrInvalidState, p.ID, p.State)
	}
	return total, nil
}

// removeSteps removes every step of OpenJD job p, and so p. Without force
// it refuses, removing nothing, while a step has not ended.
func (s *Server) removeSteps(ctx context.Context, p *job.Job, force bool) ([]int64, error) {
	if !force && !p.State.Terminal() {
		return nil, fmt.Errorf("%w: OpenJD job %d has not ended (%s); stop it first or force the removal", job.ErrInvalidState, p.ID, p.State)
	}
	var removed []int64
	for _, id := range p.Steps {
		err := s.cfg.Scheduler.Remove(ctx, id, force)
		if err != nil && !errors.Is(err, job.ErrNotFound) {
			return removed, err
		}
		removed = append(removed, id)
	}
	// A job whose steps could not all be submitted may have none.
	if err := s.cfg.Store.JobDelete(ctx, p.ID); err != nil && !errors.Is(err, job.ErrNotFound) {
		return removed, err
	}
	return append(removed, p.ID), nil
}
