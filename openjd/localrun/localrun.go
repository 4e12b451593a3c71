// Package localrun runs an OpenJD job on this host in one session, the way
// `berth openjd run` (and the reference openjd CLI) does: the environments
// of the applied environment templates, then the job's environments, are
// entered; each selected step enters its step environments, runs its tasks
// and exits them; at the end every environment is exited in reverse order,
// also after a failure or a cancel.
//
// The berth CLI and the conformance test both run jobs through Run, so
// that what the test measures is what users get.
package localrun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/berth-run/berth/openjd"
	"github.com/berth-run/berth/openjd/session"
)

// Options say what to run and how.
type Options struct {
	// Job is the job to run; see Load and openjd.CreateJob.
	Job *openjd.Job
	// Step is the step to run. Defaults to the only step, or to every
	// step in dependency order when the job has several.
	Step string
	// RunDependencies also runs, first, the steps Step depends on,
	// directly or not.
	RunDependencies bool
	// Tasks are the tasks of Step to run, each a map from task parameter
	// name to value. Defaults to every task of its parameter space.
	Tasks []map[string]string
	// MaximumTasks runs at most this many tasks (chunks) of Step; 0 or
	// less means no limit.
	MaximumTasks int
	// FirstTask skips this many tasks (chunks) of Step, in parameter-space
	// order: with MaximumTasks 1 it runs the one task at that position, as a
	// submitted job's array task does. A chunked step is then cut in chunks
	// of its default size, even when adaptive.
	FirstTask int64
	// PathMappingRules are given to the session.
	PathMappingRules []session.PathMappingRule
	// Preserve keeps the session's working directory.
	Preserve bool
	// Verbose logs each action's full command line.
	Verbose bool
	// Env is the environment actions start from. Defaults to the
	// process's, or to none with a Runner (see session.Config.Env).
	Env []string
	// Runner starts the actions' commands, such as in a container
	// (worker/sessionbox). Defaults to local subprocesses.
	Runner session.Runner
	// Root is where the session's working directory is made. Defaults to
	// os.TempDir().
	Root string
	// Log receives the session's log lines.
	Log func(session.Line)
	// Cleanup is the context environments are exited under once ctx is
	// canceled: canceling it too cancels the exit actions. Defaults to a
	// context that is never canceled.
	Cleanup context.Context
}

// Result is how a local run ended.
type Result struct {
	JobName string
	// StepName is the step that ran last (the selected one on success).
	StepName string
	Duration time.Duration
	// ChunksRun counts the tasks (chunks, for chunked steps) that
	// succeeded.
	ChunksRun int
	// Succeeded is true when every action succeeded.
	Succeeded bool
	// Canceled is true when ctx was canceled.
	Canceled bool
	// FailedAction describes the first action that failed, and Failure
	// how it ended.
	FailedAction string
	Failure      session.Result
	// WorkingDir is the session's working directory, kept if
	// Options.Preserve.
	WorkingDir string
}

// Message is the one-line outcome the CLI prints.
func (r *Result) Message() string {
	msg := "Session ended successfully"
	if !r.Succeeded {
		msg = "Session ended with errors; see Task logs for details"
	}
	if r.WorkingDir != "" {
		msg += "\nWorking directory preserved at: " + r.WorkingDir
	}
	return msg
}

// logPrefix starts the runner's own log lines.
const logPrefix = "berth openjd: "

// runner holds the state of one Run.
type runner struct {
	opts    Options
	job     *openjd.Job
	s       *session.Session
	ctx     context.Context
	cleanup context.Context
	res     *Result
}

// Run runs the job's selected steps in one session. The error reports a
// selection that cannot run (no such step, bad task values) or a session
// that could not be created; a failing action is reported in the Result.
func Run(ctx context.Context, opts Options) (*Result, error) {
	job := opts.Job
	if job == nil {
		return nil, errors.New("localrun: no job")
	}
	steps, selected, err := selectSteps(job, opts)
	if err != nil {
		return nil, err
	}
	if opts.FirstTask < 0 || (opts.FirstTask > 0 && (selected == nil || opts.FirstTask >= selected.TaskCount())) {
		return nil, fmt.Errorf("task position %d is out of range for the step", opts.FirstTask)
	}
	var explicit [][]session.TaskParam
	if len(opts.Tasks) > 0 {
		if explicit, err = explicitTasks(selected, opts.Tasks); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	s, err := session.New(session.Config{
		ID:               "CLI-session",
		Parameters:       job.Parameters,
		JobName:          job.Name,
		PathMappingRules: opts.PathMappingRules,
		Root:             opts.Root,
		Preserve:         opts.Preserve,
		Env:              opts.Env,
		Runner:           opts.Runner,
		Log:              opts.Log,
		Verbose:          opts.Verbose,
	})
	if err != nil {
		return nil, err
	}
	r := &runner{opts: opts, job: job, s: s, ctx: ctx, cleanup: opts.Cleanup,
		res: &Result{JobName: job.Name, Succeeded: true}}
	if r.cleanup == nil {
		r.cleanup = context.WithoutCancel(ctx)
	}
	s.Logf("%sSession start %s", logPrefix, start.Format(time.RFC3339))
	s.Logf("%sRunning job '%s'", logPrefix, job.Name)

	r.enterTop()
	for _, js := range steps {
		if r.stopped() {
			break
		}
		r.res.StepName = js.Name
		var tasks [][]session.TaskParam
		limit, first := 0, int64(0)
		if js == selected {
			tasks, limit, first = explicit, opts.MaximumTasks, opts.FirstTask
		}
		r.runStep(js, tasks, limit, first)
	}
	r.exitTo(0)

	s.Logf("")
	if r.res.Succeeded {
		s.Logf("%sAll actions completed successfully!", logPrefix)
	} else {
		s.Logf("%sERROR executing action: '%s' (see Task logs for details)", logPrefix, r.res.FailedAction)
	}
	s.Logf("%sLocal session ended! Now cleaning up session resources.", logPrefix)
	if opts.Preserve {
		r.res.WorkingDir = s.WorkingDirectory()
	}
	closeErr := s.Close()
	r.res.Duration = time.Since(start)
	return r.res, closeErr
}

// stopped reports whether the run must stop starting actions.
func (r *runner) stopped() bool {
	if r.ctx.Err() != nil && !r.res.Canceled {
		r.fail("(between actions)", session.Result{State: session.Canceled, ExitCode: -1, Message: "canceled"})
	}
	return !r.res.Succeeded
}

// fail records the first failed action.
func (r *runner) fail(action string, res session.Result) {
	if r.res.Succeeded {
		r.res.Succeeded = false
		r.res.FailedAction = action
		r.res.Failure = res
	}
	if res.State == session.Canceled && !r.res.Canceled {
		r.res.Canceled = true
		r.s.Logf("%sSession canceled while running action: '%s'", logPrefix, action)
	}
}

// enterTop enters the applied environment templates' environments, then
// the job's.
func (r *runner) enterTop() {
	for _, et := range r.job.Environments {
		if !r.enter(&et.Environment, et.Extensions) {
			return
		}
	}
	for i := range r.job.Template.JobEnvironments {
		if !r.enter(&r.job.Template.JobEnvironments[i], r.job.Template.Extensions) {
			return
		}
	}
}

func (r *runner) enter(env *openjd.Environment, ext []openjd.Extension) bool {
	if r.stopped() {
		return false
	}
	res, err := r.s.EnterEnvironment(r.ctx, env, ext)
	if err != nil {
		r.fail("enter environment '"+env.Name+"'", session.Result{State: session.Failed, ExitCode: -1, Message: err.Error()})
		return false
	}
	if !res.OK() {
		r.fail("enter environment '"+env.Name+"'", res)
		return false
	}
	return true
}

// exitTo exits environments until keep remain, under the cleanup context.
func (r *runner) exitTo(keep int) {
	for n := r.s.Environments(); n > keep; n-- {
		names := r.s.EnvironmentNames()
		action := "exit environment '" + names[len(names)-1] + "'"
		res, err := r.s.ExitEnvironments(r.cleanup, n-1)
		if err != nil {
			r.fail(action, session.Result{State: session.Failed, ExitCode: -1, Message: err.Error()})
			return
		}
		if !res.OK() {
			r.fail(action, res)
		}
	}
}

// runStep enters the step's environments, runs its tasks and exits them.
func (r *runner) runStep(js *openjd.JobStep, explicit [][]session.TaskParam, limit int, first int64) {
	r.s.Logf("%sRunning step '%s'", logPrefix, js.Name)
	base := r.s.Environments()
	entered := true
	for i := range js.StepEnvironments {
		if !r.enter(&js.StepEnvironments[i], r.job.Template.Extensions) {
			entered = false
			break
		}
	}
	if entered {
		switch {
		case explicit != nil:
			for _, t := range explicit {
				if !r.task(js, t) {
					break
				}
			}
		case first == 0 && js.Space != nil && js.Space.ChunkParam() >= 0 &&
			js.Space.Params()[js.Space.ChunkParam()].Chunks.Adaptive():
			r.adaptiveTasks(js, limit)
		default:
			end := js.TaskCount()
			if limit > 0 {
				end = min(end, first+int64(limit))
			}
			for i := first; i < end; i++ {
				if !r.task(js, session.TaskParams(js.Space, i)) {
					break
				}
			}
		}
	}
	r.exitTo(base)
}

// task runs one task; it returns false when the run must stop.
func (r *runner) task(js *openjd.JobStep, params []session.TaskParam) bool {
	if r.stopped() {
		return false
	}
	res, err := r.s.RunTask(r.ctx, js.Step, params)
	if err == nil && res.OK() {
		r.res.ChunksRun++
		return true
	}
	if err != nil {
		res = session.Result{State: session.Failed, ExitCode: -1, Message: err.Error()}
	}
	r.fail(describeTask(js.Name, params), res)
	return false
}

func describeTask(step string, params []session.TaskParam) string {
	if len(params) == 0 {
		return "run task of step '" + step + "'"
	}
	return fmt.Sprintf("run task of step '%s' (%s)", step, session.FormatParams(params))
}

// adaptiveTasks runs a chunked step whose chunk size adapts to its
// targetRuntimeSeconds: after each chunk, the size is set so that a chunk
// of the average task duration seen so far takes the target time, moving
// towards it gently while fewer than ten tasks have run.
func (r *runner) adaptiveTasks(js *openjd.JobStep, limit int) {
	ci := js.Space.ChunkParam()
	cp := js.Space.Params()[ci]
	rest := js.Space.WithoutParam(ci)
	size := cp.Chunks.Size
	target := float64(cp.Chunks.TargetRuntimeSeconds)
	var doneTasks int64
	var doneTime time.Duration
	run := 0
	for i := range rest.Len() {
		others := session.TaskParams(rest, i)
		cursor := openjd.NewChunkCursor(cp)
		for {
			if limit > 0 && run >= limit {
				return
			}
			value, n, ok := cursor.Next(size)
			if !ok {
				break
			}
			params := make([]session.TaskParam, 0, len(others)+1)
			params = append(params, others[:ci]...)
			params = append(params, session.TaskParam{Name: cp.Name, Type: cp.Type, Value: value})
			params = append(params, others[ci:]...)
			t0 := time.Now()
			if !r.task(js, params) {
				return
			}
			run++
			doneTasks += n
			doneTime += time.Since(t0)
			perTask := doneTime.Seconds() / float64(doneTasks)
			if perTask <= 0 {
				continue
			}
			next := target / perTask
			if doneTasks < 10 && next > float64(size) {
				next = 0.75*float64(size) + 0.25*next
			}
			if n := max(int64(next), 1); n != size {
				r.s.Logf("%sRan %d tasks in %s, average %s", logPrefix, doneTasks, doneTime.Round(time.Millisecond),
					(doneTime / time.Duration(doneTasks)).Round(time.Millisecond))
				r.s.Logf("%sAdjusting chunk size from %d to %d", logPrefix, size, n)
				size = n
			}
		}
	}
}

// Summary is the closing block of `berth openjd run`, after the reference
// CLI's.
func (r *Result) Summary() string {
	var b strings.Builder
	b.WriteString("\n--- Results of local session ---\n\n")
	b.WriteString(r.Message())
	b.WriteString("\n\nJob: " + r.JobName + "\n")
	if r.StepName != "" {
		b.WriteString("Step: " + r.StepName + "\n")
	}
	fmt.Fprintf(&b, "Duration: %.3f seconds\n", r.Duration.Seconds())
	fmt.Fprintf(&b, "Chunks run: %d\n", r.ChunksRun)
	return b.String()
}
