package scheduler

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/berth-run/berth/job"
)

// Retention removes ended jobs, their rows and their files, once they have
// been ended for Config.Retention. The sweep runs beside the scheduler: it
// takes the lock only to check that a job is not the scheduler's (unended
// jobs never are removed) and to announce the removal, and each job is its
// own transaction, so neither dispatch nor reports wait for a sweep.
//
// A job's files go first, then its rows: a restart in between leaves the
// rows of a job past its retention, which the next sweep (one runs at
// start) removes. Nothing else is touched.

// sweepPage is how many jobs a sweep lists at once.
const sweepPage = 256

// sweepInterval is how often the sweep runs for a retention period: a tenth
// of it, between 100ms and an hour.
func sweepInterval(retention time.Duration) time.Duration {
	return min(max(retention/10, 100*time.Millisecond), time.Hour)
}

// sweeper runs Sweep every sweepInterval until the scheduler stops.
func (s *Scheduler) sweeper() {
	defer s.wg.Done()
	tick := time.NewTicker(sweepInterval(s.cfg.Retention))
	defer tick.Stop()
	for {
		if n, err := s.Sweep(s.ctx, s.cfg.Now().Add(-s.cfg.Retention)); err != nil && s.ctx.Err() == nil {
			s.log.Error("removing jobs past their retention", "removed", n, "err", err)
		} else if n > 0 {
			s.log.Info("removed jobs past their retention", "removed", n, "retention", s.cfg.Retention)
		}
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Sweep removes the jobs that ended before before, with their files, and
// returns how many it removed. Unended jobs are never removed.
func (s *Scheduler) Sweep(ctx context.Context, before time.Time) (int, error) {
	n := 0
	for {
		ids, err := s.cfg.Store.JobsEndedBefore(ctx, before, sweepPage)
		if err != nil {
			return n, err
		}
		removed := 0
		for _, id := range ids {
			ok, err := s.removeEnded(ctx, id)
			if err != nil {
				return n, err
			}
			if ok {
				n++
				removed++
			}
		}
		if len(ids) < sweepPage || removed == 0 {
			return n, nil
		}
	}
}

// removeEnded removes an ended job's files, then its rows, and announces it.
func (s *Scheduler) removeEnded(ctx context.Context, id int64) (bool, error) {
	s.mu.Lock()
	_, unended := s.jobs[id]
	s.mu.Unlock()
	if unended {
		return false, nil
	}
	if err := os.RemoveAll(s.cfg.DataDir.JobDir(id)); err != nil {
		return false, fmt.Errorf("removing the files of job %d: %w", id, err)
	}
	ok, err := s.cfg.Store.JobDeleteEnded(ctx, id)
	if err != nil || !ok {
		return false, err
	}
	s.fan.emit(&job.Event{Job: id, Time: s.cfg.Now().UTC(), Removed: true, JobEnded: true})
	return true, nil
}
