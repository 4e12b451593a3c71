package server

import (
	"context"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/scheduler"
)

// Scheduler is what the server asks to change jobs. scheduler.Scheduler
// implements it. Reads go to the store directly.
//
// Errors: job.ErrNotFound (wrapped) for unknown jobs, *job.FieldError for
// invalid input, job.ErrInvalidState (wrapped) for actions that do not apply.
type Scheduler interface {
	// Submit validates and records a job and returns its ID. It returns once
	// the job is durably stored.
	Submit(ctx context.Context, spec job.Spec) (int64, error)
	// SubmitOpenJD records an OpenJD job's templates and the job standing
	// for it, and submits its steps' jobs; see
	// scheduler.Scheduler.SubmitOpenJD.
	SubmitOpenJD(ctx context.Context, sub *job.OpenJDJob, parent job.Spec, steps []scheduler.OpenJDStepSpec) (int64, []int64, error)
	// Control applies an action to a job (every task) or one task, and
	// returns the number of tasks it changed.
	Control(ctx context.Context, ref job.Ref, action job.Action) (int, error)
	// ControlStop is Control whose terminate stops the tasks as opts say
	// (first signal, grace before SIGKILL).
	ControlStop(ctx context.Context, ref job.Ref, action job.Action, opts scheduler.StopOptions) (int, error)
	// Remove deletes a job and its files. Without force it refuses a job
	// with unended tasks (job.ErrInvalidState); with force it terminates them
	// first.
	Remove(ctx context.Context, id int64, force bool) error
	// Subscribe returns a channel of every event from now on, and a func
	// that ends the subscription. A subscriber that falls more than buf
	// events behind has its channel closed; it should re-read the store.
	Subscribe(buf int) (<-chan job.Event, func())
	// Workers lists the workers heard from recently.
	Workers() []WorkerStatus
	// Stats returns the pools' figures (the dashboard, metrics).
	Stats() []scheduler.PoolStats
	// JobTasks counts an unended job's tasks by state, from memory; false
	// for a job that is not unended (the dashboard).
	JobTasks(id int64) (map[job.State]int, bool)
}

// WorkerStatus is a worker as the server last heard of it.
type WorkerStatus = dispatch.WorkerStatus
