package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/internal/procmark"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/openjd"
	"github.com/berth-run/berth/openjd/localrun"
	"github.com/berth-run/berth/openjd/session"
	"github.com/berth-run/berth/worker/sessionbox"
)

// An OpenJD step's tasks run in sessions (docs/openjd.md). A slot that
// takes a task of a step opens a session: it enters the environments of
// the job (the submitted environment templates', the job template's, the
// step's) once, then runs in it each task of the step that the server
// hands over in reply to the previous one's end (Event.Stay), and exits the
// environments, in reverse order, when the server hands over nothing more
// of the step, when an action failed, or when the worker stops. Every
// process of a session carries Config.SessionMarker, so that a restarted
// worker kills what a session of its earlier run left (see killSessions).

// stepSession is an open session of one step's job on one slot.
type stepSession struct {
	w    *Worker
	job  int64 // the step's berth job
	name string
	log  *slog.Logger
	oj   *openjd.Job
	step *openjd.JobStep
	s    *session.Session
	// exited is set once its environments are exited: it runs nothing more.
	exited bool
	// box is the session's container, with the built-in container
	// environment; root is the directory mounted in it.
	box  *sessionbox.Box
	root string

	mu sync.Mutex
	// sink buffers the running task's output (nil between tasks): the
	// session's own lines wait for the action's next line or the end.
	sink *bufio.Writer
	// last is the output file of the session's latest task, on the
	// server's disk (local worker), which the exits that follow its end
	// append to; empty on a remote worker, whose exits log to its own log.
	last string
}

// sessionSeq numbers the sessions a worker opens.
var sessionSeq atomic.Int64

// openSession fetches the job's templates, creates the session and
// enters its environments, logging to t's output. A failed enter is
// returned as the task's end.
func (w *Worker) openSession(ctx context.Context, t *task, out *os.File, name string) (*stepSession, *dispatch.End) {
	oj := t.work.OpenJD
	sub, err := w.conn.FetchOpenJD(ctx, oj.Submission)
	if err != nil {
		return nil, startFailed(err)
	}
	envs := make([][]byte, len(sub.Environments))
	for i, e := range sub.Environments {
		envs[i] = []byte(e)
	}
	var exts []openjd.Extension
	for _, e := range sub.Extensions {
		exts = append(exts, openjd.Extension(e))
	}
	model, err := localrun.Load(localrun.Input{Template: []byte(sub.Template), Environments: envs,
		Parameters: sub.Parameters, TemplateDir: sub.TemplateDir, WorkingDir: "/", Extensions: exts})
	if err != nil {
		return nil, startFailed(err)
	}
	var step *openjd.JobStep
	for i := range model.Steps {
		if model.Steps[i].Name == oj.Step {
			step = &model.Steps[i]
		}
	}
	if step == nil {
		return nil, startFailed(fmt.Errorf("the OpenJD job has no step %q", oj.Step))
	}
	var rules []session.PathMappingRule
	if len(sub.PathMappingRules) > 0 {
		if rules, err = session.ParsePathMappingRules(sub.PathMappingRules); err != nil {
			return nil, startFailed(err)
		}
	}
	ss := &stepSession{w: w, job: t.key.Job, name: name, oj: model, step: step, sink: bufio.NewWriter(out),
		log: w.log.With("session", name, "step", step.Name)}
	var env []string
	for k, v := range t.work.Env {
		if k == "BERTH_JOB_ID" || k == "BERTH_JOB_NAME" {
			env = append(env, k+"="+v)
		}
	}
	cfg := session.Config{
		ID:               "berth-" + strconv.FormatInt(t.key.Job, 10),
		Parameters:       model.Parameters,
		JobName:          model.Name,
		PathMappingRules: rules,
		Log:              ss.logLine,
	}
	if sub.Container != nil {
		// In the container: the image's environment, not the worker's.
		if err := ss.startBox(ctx, sub.Container, env); err != nil {
			return nil, startFailed(err)
		}
		cfg.Root, cfg.Runner, cfg.Env = ss.root, ss.box.Runner(), env
		if cfg.Env == nil {
			cfg.Env = []string{}
		}
	} else {
		cfg.Env = append(append(sessionEnv(), env...), w.cfg.TaskEnv...)
		if w.cfg.SessionMarker != "" {
			cfg.Env = append(cfg.Env, w.cfg.SessionMarker)
		}
	}
	if ss.s, err = session.New(cfg); err != nil {
		ss.closeBox()
		return nil, startFailed(err)
	}
	ss.log.Info("session opened")
	if ss.box != nil {
		ss.s.Logf("berth: session container %.12s of image %s", ss.box.ContainerID(), sub.Container.Image)
	}
	ss.s.Logf("berth: session %s opened for step '%s' of job '%s'", name, step.Name, model.Name)
	enter := func(env *openjd.Environment, ext []openjd.Extension) *dispatch.End {
		res, err := ss.s.EnterEnvironment(ctx, env, ext)
		if err != nil {
			res = session.Result{State: session.Failed, ExitCode: -1, Message: err.Error()}
		}
		if !res.OK() {
			return actionEnd(res, "entering environment '"+env.Name+"'")
		}
		return nil
	}
	for _, et := range model.Environments {
		if end := enter(&et.Environment, et.Extensions); end != nil {
			return ss, end
		}
	}
	for i := range model.Template.JobEnvironments {
		if end := enter(&model.Template.JobEnvironments[i], model.Template.Extensions); end != nil {
			return ss, end
		}
	}
	for i := range step.StepEnvironments {
		if end := enter(&step.StepEnvironments[i], model.Template.Extensions); end != nil {
			return ss, end
		}
	}
	return ss, nil
}

// sessionEnv is the environment a session's actions start from: the
// worker's base variables, as for process tasks.
func sessionEnv() []string {
	var env []string
	for k, v := range hostEnv(os.LookupEnv) {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env
}

// logLine writes a session's log line to the running task's output.
func (ss *stepSession) logLine(l session.Line) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.sink != nil {
		_, _ = ss.sink.WriteString(l.Text)
		_ = ss.sink.WriteByte('\n')
		if l.Output {
			_ = ss.sink.Flush()
		}
		return
	}
	ss.log.Debug("session log", "line", l.Text)
}

// setSink flushes the output of the task before and sends the session's
// log to f from now on (nowhere for nil).
func (ss *stepSession) setSink(f *os.File) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.sink != nil {
		if err := ss.sink.Flush(); err != nil {
			ss.log.Warn("writing the task's log", "error", err)
		}
	}
	ss.sink = nil
	if f != nil {
		ss.sink = bufio.NewWriter(f)
	}
}

// usable reports whether the session may run another task: no action of
// it failed or was canceled.
func (ss *stepSession) usable() bool { return !ss.exited && !ss.s.Ended() }

// exit exits the session's environments in reverse order, every one
// even after a failure, and returns the end the first failure makes, if one
// failed.
func (ss *stepSession) exit() *dispatch.End {
	ss.exited = true
	ctx := context.WithoutCancel(ss.w.life)
	var failed *dispatch.End
	for ss.s.Environments() > 0 {
		n := ss.s.Environments()
		names := ss.s.EnvironmentNames()
		name := names[len(names)-1]
		res, err := ss.s.ExitEnvironments(ctx, n-1)
		if err != nil {
			res = session.Result{State: session.Failed, ExitCode: -1, Message: err.Error()}
		}
		if !res.OK() {
			ss.log.Warn("exiting an environment failed", "environment", name, "error", res.Message)
			if failed == nil {
				failed = actionEnd(res, "exiting environment '"+name+"'")
			}
		}
		if ss.s.Environments() >= n {
			break
		}
	}
	return failed
}

// close exits what environments are still entered and removes the
// session's working directory.
func (ss *stepSession) close() {
	if ss.s.Environments() > 0 && ss.last != "" {
		if f, err := os.OpenFile(ss.last, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			ss.setSink(f)
			defer f.Close()
			defer ss.setSink(nil)
		}
	}
	ss.exit()
	if err := ss.s.Close(); err != nil {
		ss.log.Warn("closing the session", "error", err)
	}
	ss.closeBox()
	ss.log.Info("session closed")
}

// startBox starts the session's container, its root a new directory
// mounted at the same path.
func (ss *stepSession) startBox(ctx context.Context, c *job.SessionContainer, env []string) error {
	eng, ok := ss.w.cfg.Executor.(sessionbox.Engine)
	if !ok {
		return errors.New("this worker runs no containers")
	}
	settings, err := job.ParseContainerExtensions(c.Extensions, "container.")
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "berth-session-")
	if err == nil {
		root, err = filepath.EvalSymlinks(root)
	}
	if err != nil {
		return fmt.Errorf("making the session's directory: %w", err)
	}
	box, err := sessionbox.Start(ctx, eng, sessionbox.Options{Image: c.Image, WorkDir: root,
		Mounts: c.Mounts, Env: env, ContainerSettings: *settings})
	if err != nil {
		_ = os.RemoveAll(root)
		return err
	}
	ss.box, ss.root = box, root
	ss.log.Info("session container started", "container", box.ContainerID(), "image", c.Image)
	return nil
}

// closeBox removes the session's container and its directory.
func (ss *stepSession) closeBox() {
	if ss.box == nil {
		return
	}
	if err := ss.box.Close(context.WithoutCancel(ss.w.life)); err != nil {
		ss.log.Warn("removing the session's container", "error", err)
	}
	if err := os.RemoveAll(ss.root); err != nil {
		ss.log.Warn("removing the session's directory", "error", err)
	}
	ss.box = nil
}

// removeStaleBoxes removes the session containers an earlier run of the
// worker left (kill -9): their tasks are lost.
func (w *Worker) removeStaleBoxes(ctx context.Context) {
	re, ok := w.cfg.Executor.(sessionbox.RecoverableEngine)
	if !ok {
		return
	}
	removed, err := sessionbox.RemoveStale(ctx, re)
	if err != nil {
		w.log.Warn("removing session containers left by an earlier run", "error", err)
	}
	if len(removed) > 0 {
		w.log.Info("removed session containers left by an earlier run", "containers", len(removed))
	}
}

// executeOpenJD runs a task of an OpenJD step in the slot's session of
// that step, opening one if there is none (or it cannot go on), and
// returns its end.
func (w *Worker) executeOpenJD(t *task, sp **stepSession, slot int) *dispatch.End {
	if ss := *sp; ss != nil && (ss.job != t.key.Job || !ss.usable()) {
		ss.close()
		*sp = nil
	}
	out, err := w.openjdOutput(t)
	if err != nil {
		return startFailed(err)
	}
	defer out.Close()
	ctx, cancel := context.WithCancel(w.life)
	defer cancel()
	t.mu.Lock()
	if t.reason != "" {
		t.ended = true
		t.mu.Unlock()
		return &dispatch.End{State: job.Failed, SubState: job.SubState{Kind: t.reason}, Message: "stopped before it started"}
	}
	t.started, t.cancelRun = true, cancel
	var name string
	if *sp != nil {
		name = (*sp).name
	} else {
		name = fmt.Sprintf("%s/%d/%d", w.cfg.ID, slot, sessionSeq.Add(1))
	}
	t.events.push(w.event(t, dispatch.EventStarted, func(ev *dispatch.Event) { ev.Session = name }))
	t.mu.Unlock()

	end := w.runInSession(ctx, t, out, sp, name)
	t.mu.Lock()
	t.ended = true
	if t.reason != "" {
		end.State, end.SubState = job.Failed, job.SubState{Kind: t.reason}
	}
	t.mu.Unlock()
	return end
}

func (w *Worker) runInSession(ctx context.Context, t *task, out *os.File, sp **stepSession, name string) *dispatch.End {
	ss := *sp
	if ss == nil {
		var end *dispatch.End
		ss, end = w.openSession(ctx, t, out, name)
		if ss != nil {
			*sp = ss
			defer ss.setSink(nil)
			if !w.remote() {
				ss.last = out.Name()
			}
		}
		if end != nil {
			return end
		}
	} else {
		ss.setSink(out)
		defer ss.setSink(nil)
		if !w.remote() {
			ss.last = out.Name()
		}
	}
	if t.work.Position >= ss.step.TaskCount() {
		return startFailed(fmt.Errorf("task position %d is past the step's %d tasks", t.work.Position, ss.step.TaskCount()))
	}
	params := session.TaskParams(ss.step.Space, t.work.Position)
	ss.s.Logf("berth: Running job '%s', step '%s', task %s in session %s", ss.oj.Name, ss.step.Name, describeParams(params), ss.name)
	res, err := ss.s.RunTask(ctx, ss.step.Step, params)
	if err != nil {
		res = session.Result{State: session.Failed, ExitCode: -1, Message: err.Error()}
	}
	end := actionEnd(res, "")
	if t.work.OpenJD.Last || !ss.usable() {
		// Nothing more of the step is coming: the exits' output goes to
		// this task's log, and a failed exit fails it.
		if xres := ss.exit(); xres != nil && end.State == job.Done {
			end = xres
		}
	}
	return end
}

// describeParams lists a task's parameter values.
func describeParams(params []session.TaskParam) string {
	if len(params) == 0 {
		return "(no parameters)"
	}
	return session.FormatParams(params)
}

// actionEnd makes a task's end of how its action (or a failed enter) ended.
func actionEnd(res session.Result, what string) *dispatch.End {
	e := &dispatch.End{State: job.Failed, Message: res.Message}
	if what != "" && e.Message != "" {
		e.Message = what + ": " + e.Message
	}
	switch {
	case res.State == session.Succeeded:
		code := 0
		e.State, e.ExitCode, e.SubState, e.Message = job.Done, &code, job.ExitCode(0), ""
	case res.State == session.TimedOut:
		e.SubState = job.SubState{Kind: job.ReasonTimeLimit}
	case res.State == session.Canceled:
		e.SubState = job.SubState{Kind: job.ReasonCanceled}
	case res.Signal != "":
		e.Signal, e.SubState = res.Signal, job.Signal(res.Signal)
	case res.ExitCode >= 0:
		code := res.ExitCode
		e.ExitCode, e.SubState = &code, job.ExitCode(code)
	default:
		e.SubState = job.SubState{Kind: job.ReasonStartFailed}
	}
	return e
}

// openjdOutput opens the file an OpenJD task's log goes to: its stdout
// (on a remote worker, shipped as it grows).
func (w *Worker) openjdOutput(t *task) (*os.File, error) {
	path := t.work.Stdout
	dir := t.work.Dir
	if w.remote() {
		dir = w.cfg.TaskDir(t.key)
		path = filepath.Join(dir, datadir.StdoutFile)
	}
	if path == "" {
		path = filepath.Join(dir, datadir.StdoutFile)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("creating task directory: %w", err)
	}
	if w.remote() {
		var err error
		if t.stream, err = w.startStream(t.key, dir, true); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the task's output: %w", err)
	}
	return f, nil
}

// killSessions kills what sessions of an earlier run of the worker left
// running (kill -9 of the worker): their tasks are lost, and may run
// elsewhere.
func (w *Worker) killSessions() {
	if n := procmark.Kill(w.cfg.SessionMarker); n > 0 {
		w.log.Info("killed the processes of sessions left by an earlier run", "processes", n)
	}
}

var errOpenJDPause = errors.New("an OpenJD task cannot be suspended: its session runs other actions")
