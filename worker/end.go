package worker

import (
	"errors"
	"fmt"
	"strings"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
)

// endOf says how an attempt ended from its exit and the reason the worker
// stopped it, if it did: that reason wins over the exit status, which is
// still reported.
func endOf(exit *executor.Exit, reason job.Reason) *dispatch.End {
	e := &dispatch.End{
		State:   job.Failed,
		CPUTime: job.Duration(exit.CPUTime),
		MaxRSS:  exit.MaxRSS,
	}
	switch {
	case exit.Err != nil:
		e.SubState = job.SubState{Kind: job.ReasonLost}
		e.Message = exit.Err.Error()
	case exit.Signal != "":
		e.Signal = exit.Signal
		e.SubState = job.Signal(exit.Signal)
	default:
		code := exit.ExitCode
		e.ExitCode = &code
		e.SubState = job.ExitCode(code)
		if code == 0 {
			e.State = job.Done
		}
	}
	if exit.Err == nil && exit.OOMKilled {
		e.State, e.SubState = job.Failed, job.SubState{Kind: job.ReasonOOM}
	}
	if reason != "" {
		e.State, e.SubState = job.Failed, job.SubState{Kind: reason}
	}
	if exit.Err == nil && exit.CopyErr != nil {
		if e.State == job.Done {
			e.State, e.SubState = job.Failed, job.SubState{Kind: job.ReasonStageOut}
		}
		e.Message = exit.CopyErr.Error()
	}
	if exit.OutputErr != nil {
		// The end stands (the task did end so), but its record says that
		// its output files hold only part of what it wrote.
		e.Message = strings.TrimPrefix(e.Message+"; ", "; ") + job.OutputIncomplete + exit.OutputErr.Error()
	}
	if exit.Restarts > 0 {
		e.Message = strings.TrimPrefix(e.Message+"; ", "; ") +
			fmt.Sprintf("restarted %d times by its restart policy", exit.Restarts)
	}
	return e
}

// startFailed is the end of an attempt that could not start.
func startFailed(err error) *dispatch.End {
	kind := job.ReasonStartFailed
	switch {
	case errors.Is(err, executor.ErrImageNotFound):
		kind = job.ReasonNoImage
	case errors.Is(err, executor.ErrPullFailed):
		kind = job.ReasonPullFailed
	}
	var notFound *executor.CommandNotFoundError
	if errors.As(err, &notFound) {
		// The user's words, and the exit code a shell would give.
		code := executor.CommandNotFoundExit
		return &dispatch.End{State: job.Failed, SubState: job.SubState{Kind: kind}, ExitCode: &code, Message: notFound.Error()}
	}
	// The message a user reads starts after the executor's prefixes
	// ("start 3.0.1: task could not start: ").
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, executor.ErrStartFailed.Error()+": "); ok && after != "" {
		msg = after
	}
	return &dispatch.End{State: job.Failed, SubState: job.SubState{Kind: kind}, Message: msg}
}
