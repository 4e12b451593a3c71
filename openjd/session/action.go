package session

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/berth-run/berth/openjd"
)

// Default notify periods of NOTIFY_THEN_TERMINATE (Template Schemas 5.3.2).
const (
	NotifyPeriodOnRun   = 120 * time.Second
	NotifyPeriodDefault = 30 * time.Second
)

// maxLine bounds one line of output; a longer line is split.
const maxLine = 64 * 1024

// actionSpec is an action ready to run.
type actionSpec struct {
	command string
	args    []string
	timeout time.Duration // 0: none
	notify  bool          // NOTIFY_THEN_TERMINATE
	period  time.Duration // its notify period
	// mode is the cancelation mode the action declares; empty if none.
	mode string
	// frame receives openjd_env and openjd_unset_env; nil outside onEnter.
	frame *activeEnv
}

// cancelReason says why an action is being canceled.
type cancelReason int

const (
	cancelRequested cancelReason = iota + 1
	cancelTimeout
	cancelProtocol // a malformed protocol message
)

// actionRun is one running action.
type actionRun struct {
	s    *Session
	spec actionSpec
	proc Process

	mu       sync.Mutex
	reason   cancelReason // the first cancel's reason; 0 if none
	killTmr  *time.Timer
	exited   bool
	message  string // openjd_fail, or the runtime's reason
	progress float64
	status   string
}

// resolveAction resolves an action's command and arguments, and its
// timeout and cancelation (format strings of FEATURE_BUNDLE_1 included).
func (s *Session) resolveAction(a *openjd.Action, scope openjd.Scope, defaultPeriod time.Duration) (actionSpec, error) {
	var spec actionSpec
	cmd, err := a.Command.Resolve(scope)
	if err != nil {
		return spec, fmt.Errorf("command: %w", err)
	}
	spec.command = cmd
	for i, f := range a.Args {
		v, err := f.ResolveItems(scope)
		if err != nil {
			return spec, fmt.Errorf("args[%d]: %w", i, err)
		}
		spec.args = append(spec.args, v...)
	}
	if err := s.resolveLimits(&spec, a.Timeout, a.Cancelation, scope, defaultPeriod); err != nil {
		return spec, err
	}
	return spec, nil
}

func (s *Session) resolveLimits(spec *actionSpec, timeout *openjd.IntOrFormat, c *openjd.Cancelation, scope openjd.Scope, defaultPeriod time.Duration) error {
	if timeout != nil {
		t, ok, err := timeout.ResolveOptional(scope)
		if err != nil {
			return fmt.Errorf("timeout: %w", err)
		}
		if ok {
			if t < 1 {
				return fmt.Errorf("timeout: %d is less than 1", t)
			}
			spec.timeout = time.Duration(t) * time.Second
		}
	}
	if c == nil {
		return nil
	}
	mode, ok, err := c.ResolveMode(scope)
	if err != nil {
		return fmt.Errorf("cancelation.mode: %w", err)
	}
	if !ok {
		// A mode that resolves to null drops the cancelation.
		return nil
	}
	spec.mode = mode
	if mode == "NOTIFY_THEN_TERMINATE" {
		spec.notify = true
		spec.period = defaultPeriod
		if c.NotifyPeriodInSeconds != nil {
			p, ok, err := c.NotifyPeriodInSeconds.ResolveOptional(scope)
			if err != nil {
				return fmt.Errorf("notifyPeriodInSeconds: %w", err)
			}
			if ok {
				if p < 1 {
					return fmt.Errorf("notifyPeriodInSeconds: %d is less than 1", p)
				}
				spec.period = time.Duration(p) * time.Second
			}
		}
	}
	return nil
}

// failed returns the result of an action that could not run.
func (s *Session) failed(start time.Time, format string, args ...any) Result {
	msg := fmt.Sprintf(format, args...)
	s.logf("openjd_fail: %s", msg)
	s.ended.Store(true)
	return Result{State: Failed, ExitCode: -1, Message: msg, Duration: time.Since(start)}
}

// run runs an action to its end. A canceled ctx cancels it with its
// cancelation method.
func (s *Session) run(ctx context.Context, spec actionSpec) Result {
	start := time.Now()
	s.phase("Phase: Running action")
	if s.cfg.Verbose {
		s.logf("Running command %s", quoteArgs(append([]string{spec.command}, spec.args...)))
	} else {
		s.logf("Running command %s", spec.command)
	}
	if spec.command == "" {
		return s.failed(start, "cannot run %q: empty command", spec.command)
	}
	proc, err := s.cfg.Runner.Start(&Command{Name: spec.command, Args: spec.args, Env: s.environ(), Dir: s.dir})
	if err != nil {
		return s.failed(start, "%v", err)
	}
	a := &actionRun{s: s, spec: spec, proc: proc}
	s.mu.Lock()
	s.running = a
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.running = nil
		s.mu.Unlock()
	}()
	s.logf("Command started as %s", proc)
	s.logf("Output:")

	out := proc.Output()
	readDone := make(chan error, 1)
	go func() { readDone <- a.readOutput(out) }()
	if spec.timeout > 0 {
		t := time.AfterFunc(spec.timeout, func() { a.cancel(cancelTimeout) })
		defer t.Stop()
	}
	waitDone := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			a.cancel(cancelRequested)
		case <-waitDone:
		}
	}()
	st, werr := proc.Wait()
	close(waitDone)
	a.mu.Lock()
	a.exited = true
	if a.killTmr != nil {
		a.killTmr.Stop()
	}
	a.mu.Unlock()
	// Processes left in the background (a daemon an onEnter started) may
	// hold the output open: log what they write for a little while, then
	// drain the rest unlogged until they close it or the session ends, so
	// that they never write to a closed pipe. Output without deadlines
	// ends soon after the command (see Process).
	dl, canDeadline := out.(interface{ SetReadDeadline(time.Time) error })
	if canDeadline {
		_ = dl.SetReadDeadline(time.Now().Add(s.cfg.OutputGrace))
	}
	if rerr := <-readDone; canDeadline && errors.Is(rerr, os.ErrDeadlineExceeded) {
		_ = dl.SetReadDeadline(time.Time{})
		s.drain(out)
	} else {
		out.Close()
	}

	res := Result{ExitCode: st.Code, Signal: st.Signal, Duration: time.Since(start)}
	a.mu.Lock()
	res.Message, res.Progress, res.Status = a.message, a.progress, a.status
	reason := a.reason
	a.mu.Unlock()
	switch {
	case reason == cancelTimeout:
		res.State = TimedOut
		if res.Message == "" {
			res.Message = fmt.Sprintf("the action ran longer than its timeout of %s", spec.timeout)
		}
	case reason == cancelRequested:
		res.State = Canceled
		if res.Message == "" {
			res.Message = "canceled"
		}
	case reason == cancelProtocol || res.ExitCode != 0 || werr != nil:
		res.State = Failed
	default:
		res.State = Succeeded
	}
	switch {
	case werr != nil:
		s.logf("Process %s: %v", proc, werr)
		if res.Message == "" {
			res.Message = werr.Error()
		}
	case res.Signal != "":
		s.logf("Process %s was ended by signal %s", proc, res.Signal)
	default:
		s.logf("Process %s exited with code: %d", proc, res.ExitCode)
	}
	if res.State != Succeeded {
		s.ended.Store(true)
		if res.Message == "" {
			res.Message = fmt.Sprintf("the command exited with code %d", res.ExitCode)
		}
	}
	return res
}

// cancel cancels the action with its cancelation method. A second cancel
// during a notify period only shortens nothing; the first reason is kept.
func (a *actionRun) cancel(reason cancelReason) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.exited || a.reason != 0 {
		return
	}
	a.reason = reason
	a.s.ended.Store(true)
	now := time.Now().UTC()
	switch reason {
	case cancelTimeout:
		a.s.logf("TIMEOUT - runtime limit of %s reached at %s; canceling the action.", a.spec.timeout, now.Format(time.RFC3339))
	case cancelProtocol:
		a.s.logf("Canceling the action after a malformed openjd message.")
	}
	if !a.spec.notify || reason == cancelProtocol {
		a.s.logf("Canceling %s via termination method at %s.", a.proc, now.Format(time.RFC3339))
		a.proc.Stop(0)
		return
	}
	end := now.Add(a.spec.period)
	a.s.logf("Canceling %s via notify then terminate method at %s.", a.proc, now.Format(time.RFC3339))
	info, _ := json.Marshal(map[string]string{"NotifyEnd": end.Format("2006-01-02T15:04:05Z")})
	if err := os.WriteFile(filepath.Join(a.s.dir, "cancel_info.json"), info, 0o600); err != nil {
		a.s.logf("Could not write cancel_info.json: %v", err)
	}
	a.proc.Stop(a.spec.period)
	a.killTmr = time.AfterFunc(a.spec.period, func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if !a.exited {
			a.s.logf("Notify period ended; sending SIGKILL to %s and what it started.", a.proc)
		}
	})
}

// readOutput logs the action's output line by line and acts on protocol
// messages, until EOF or the read deadline; it returns what ended it.
func (a *actionRun) readOutput(r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			text := strings.TrimSuffix(strings.TrimSuffix(string(line), "\n"), "\r")
			a.handle(text)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return err
		}
	}
}

// drain reads and discards what is left of an action's output until its
// writers close it, or the session is closed.
func (s *Session) drain(r io.ReadCloser) {
	s.mu.Lock()
	s.drains = append(s.drains, r)
	s.mu.Unlock()
	go func() {
		_, _ = io.Copy(io.Discard, r)
		r.Close()
	}()
}

// handle processes one line of output.
func (a *actionRun) handle(line string) {
	s := a.s
	m, ok := parseMessage(line)
	if !ok {
		if looksLikeEnvMessage(line) {
			s.log(true, line)
			a.protocolError("malformed openjd message: " + line)
			return
		}
		s.log(true, line)
		return
	}
	switch m.kind {
	case "redacted_env":
		name, value, err := parseAssignment(m.value)
		if err != nil {
			s.log(true, line)
			a.protocolError(fmt.Sprintf("openjd_redacted_env: %v", err))
			return
		}
		// Redact first, so that not even this line shows the value.
		s.redact.add(value)
		s.log(true, line)
		switch {
		case a.spec.frame == nil:
			s.logf("openjd_redacted_env is only honoured in an environment's onEnter; %s is not set", name)
		case !a.spec.frame.redacted:
			s.logf("openjd_redacted_env needs the REDACTED_ENV_VARS extension; %s is not set (its value is redacted)", name)
		default:
			a.setVar(name, value)
		}
		return
	case "env":
		s.log(true, line)
		name, value, err := parseAssignment(m.value)
		if err != nil {
			a.protocolError(fmt.Sprintf("openjd_env: %v", err))
			return
		}
		if a.spec.frame == nil {
			s.looseVar(name, value)
			return
		}
		a.setVar(name, value)
		return
	case "unset_env":
		s.log(true, line)
		name, err := parseUnset(m.value)
		if err != nil {
			a.protocolError(fmt.Sprintf("openjd_unset_env: %v", err))
			return
		}
		if a.spec.frame == nil {
			s.logf("openjd_unset_env is only honoured in an environment's onEnter; %s is not unset", name)
			return
		}
		a.mu.Lock()
		if a.spec.frame.unsets == nil {
			a.spec.frame.unsets = map[string]bool{}
		}
		a.spec.frame.unsets[name] = true
		a.mu.Unlock()
		return
	}
	s.log(true, line)
	switch m.kind {
	case "progress":
		p, err := parseProgress(m.value)
		if err != nil {
			s.logf("openjd_progress: %v", err)
			return
		}
		a.mu.Lock()
		a.progress = p
		a.mu.Unlock()
		s.update(Update{Progress: &p})
	case "status":
		a.mu.Lock()
		a.status = m.value
		a.mu.Unlock()
		s.update(Update{Status: m.value})
	case "fail":
		a.mu.Lock()
		a.message = m.value
		a.mu.Unlock()
		s.update(Update{Fail: m.value})
	}
}

func (a *actionRun) setVar(name, value string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.spec.frame.sets = append(a.spec.frame.sets, [2]string{name, value})
}

// protocolError fails the action over a malformed protocol message.
func (a *actionRun) protocolError(msg string) {
	a.s.logf("ERROR: %s", msg)
	a.mu.Lock()
	a.message = msg
	a.mu.Unlock()
	a.cancel(cancelProtocol)
}

// lookPath finds command the way a shell would with the action's PATH;
// a command with a slash is taken as is (relative to dir).
func lookPath(command string, env []string, dir string) (string, error) {
	if command == "" {
		return "", errors.New("empty command")
	}
	if strings.Contains(command, "/") {
		return command, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, d := range filepath.SplitList(path) {
		if d == "" {
			d = "."
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(dir, d)
		}
		p := filepath.Join(d, command)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("not found in PATH")
}

// quoteArgs writes argv as a shell would need it, for the log only.
func quoteArgs(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@%", r))
		}) < 0 {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'"'"'`) + "'"
	}
	return strings.Join(out, " ")
}
