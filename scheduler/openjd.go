package scheduler

import (
	"context"
	"fmt"
	"maps"
	"strconv"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
)

// OpenJDStepSpec is the job of one step of an OpenJD job to submit.
type OpenJDStepSpec struct {
	Spec job.Spec
	// Deps are the positions, in the list given to SubmitOpenJD, of the
	// steps this one waits for; each comes before it.
	Deps []int
}

// SubmitOpenJD records an OpenJD job's templates and the job standing for
// the whole OpenJD job (parent: its name, owner, labels; no tasks), then
// submits the job of each of its steps, in order, each waiting for the
// jobs of its Deps. It returns the parent's ID and the steps' job IDs.
func (s *Scheduler) SubmitOpenJD(ctx context.Context, sub *job.OpenJDJob, parent job.Spec, steps []OpenJDStepSpec) (int64, []int64, error) {
	for i := range steps {
		for _, d := range steps[i].Deps {
			if d < 0 || d >= i {
				return 0, nil, fmt.Errorf("step %d: dependency %d is not an earlier step", i, d)
			}
		}
	}
	s.mu.Lock()
	if err := s.syncedLocked(ctx); err != nil {
		s.mu.Unlock()
		return 0, nil, err
	}
	pid, ids, err := s.submitOpenJDLocked(ctx, sub, parent, steps)
	var works []*workItem
	if len(ids) > 0 {
		works = s.dispatchLocked()
	}
	s.mu.Unlock()
	s.publish(works)
	return pid, ids, err
}

func (s *Scheduler) submitOpenJDLocked(ctx context.Context, sub *job.OpenJDJob, parent job.Spec, steps []OpenJDStepSpec) (int64, []int64, error) {
	subID, pid, err := s.cfg.Store.OpenJDInsert(ctx, sub, parent, s.cfg.Now().UTC())
	if err != nil {
		return 0, nil, err
	}
	ids := make([]int64, 0, len(steps))
	for i, st := range steps {
		spec := st.Spec
		spec.OpenJD = &job.OpenJDStep{Submission: subID, Step: spec.OpenJD.Step, Job: pid}
		spec.Labels = maps.Clone(spec.Labels)
		if spec.Labels == nil {
			spec.Labels = map[string]string{}
		}
		spec.Labels[job.OpenJDLabel] = strconv.FormatInt(pid, 10)
		for _, d := range st.Deps {
			spec.After = append(spec.After, ids[d])
		}
		if err := spec.Validate(); err != nil {
			return pid, ids, fmt.Errorf("step %d: %w", i, err)
		}
		spec = spec.WithDefaults()
		id, err := s.submitLocked(ctx, &spec)
		if err != nil {
			return pid, ids, fmt.Errorf("step %q: %w", spec.OpenJD.Step, err)
		}
		ids = append(ids, id)
	}
	return pid, ids, nil
}

// HandleOpenJDFetch gives a worker the templates of an OpenJD job, if it
// holds a task of one of its steps: a job's templates and values are
// for the workers that run it only.
func (s *Scheduler) HandleOpenJDFetch(ctx context.Context, f *dispatch.OpenJDFetch) dispatch.OpenJDFetchReply {
	if err := s.awaitReady(ctx); err != nil {
		return dispatch.OpenJDFetchReply{Error: err.Error()}
	}
	if !s.holdsOpenJD(f.Worker, f.Submission) {
		s.log.Warn("refused the templates of an OpenJD job to a worker that holds none of its tasks",
			"worker", f.Worker, "submission", f.Submission)
		return dispatch.OpenJDFetchReply{Error: fmt.Sprintf("worker %s holds no task of OpenJD job %d", f.Worker, f.Submission)}
	}
	sub, err := s.cfg.Store.OpenJDGet(ctx, f.Submission)
	if err != nil {
		return dispatch.OpenJDFetchReply{Error: err.Error()}
	}
	return dispatch.OpenJDFetchReply{OK: true, Job: sub}
}

func (s *Scheduler) holdsOpenJD(worker string, submission int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ws := s.workers[worker]
	if ws == nil {
		return false
	}
	for _, js := range ws.tasks {
		if o := js.spec.OpenJD; o != nil && o.Submission == submission {
			return true
		}
	}
	return false
}
