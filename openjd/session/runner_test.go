package session_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/openjd/session"
)

// fakeRunner records the commands it is given; each prints its lines and
// ends at Stop, or with the exit it is told.
type fakeRunner struct {
	mu       sync.Mutex
	commands []*session.Command
	// lines are printed by the next command; exit ends it unless wait.
	lines []string
	exit  session.ExitStatus
	wait  bool
	fail  error // Start's error
}

func (r *fakeRunner) Start(c *session.Command) (session.Process, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return nil, r.fail
	}
	r.commands = append(r.commands, c)
	pr, pw := io.Pipe()
	p := &fakeProcess{out: pr, done: make(chan session.ExitStatus, 1), stops: make(chan time.Duration, 4)}
	lines, exit, wait := r.lines, r.exit, r.wait
	go func() {
		for _, l := range lines {
			_, _ = io.WriteString(pw, l+"\n")
		}
		if !wait {
			pw.Close()
			p.done <- exit
			return
		}
		g := <-p.stops
		pw.Close()
		// The grace it was stopped with, for the test to see.
		p.done <- session.ExitStatus{Code: -1, Signal: "grace " + g.String()}
	}()
	return p, nil
}

type fakeProcess struct {
	out   *io.PipeReader
	done  chan session.ExitStatus
	stops chan time.Duration
}

func (p *fakeProcess) Output() io.ReadCloser { return p.out }
func (p *fakeProcess) String() string        { return "fake" }
func (p *fakeProcess) Wait() (session.ExitStatus, error) {
	return <-p.done, nil
}
func (p *fakeProcess) Stop(grace time.Duration) {
	select {
	case p.stops <- grace:
	default:
	}
}

// TestRunner: with a Runner, the session starts every action's command
// through it, with the action's argv, environment (without the host's)
// and working directory; it reads the protocol from its output as from a
// local command's, and fails an action whose command did not start.
func TestRunner(t *testing.T) {
	t.Parallel()
	r := &fakeRunner{lines: []string{"openjd_env: FROM_ENTER=yes", "openjd_progress: 50"}}
	b := setup(t, session.Config{Runner: r})
	jt := parseJob(t, `specificationVersion: jobtemplate-2023-09
name: J
jobEnvironments:
- name: E
  variables: {V: "1"}
  script: {actions: {onEnter: {command: enter, args: ["a b"]}}}
steps:
- name: S
  script: {actions: {onRun: {command: /bin/run, args: ["{{Session.WorkingDirectory}}"]}}}
`)
	res, err := b.s.EnterEnvironment(context.Background(), &jt.JobEnvironments[0], nil)
	require.NoError(t, err)
	require.True(t, res.OK(), b.output())
	r.lines, r.exit = []string{"openjd_fail: broken"}, session.ExitStatus{Code: 3}
	res, err = b.s.RunTask(context.Background(), &jt.Steps[0], nil)
	require.NoError(t, err)
	require.Equal(t, session.Failed, res.State)
	require.Equal(t, 3, res.ExitCode)
	require.Equal(t, "broken", res.Message)

	require.Len(t, r.commands, 2)
	enter, run := r.commands[0], r.commands[1]
	require.Equal(t, "enter", enter.Name)
	require.Equal(t, []string{"a b"}, enter.Args)
	require.Equal(t, b.s.WorkingDirectory(), enter.Dir)
	require.Equal(t, "/bin/run", run.Name)
	require.Equal(t, []string{b.s.WorkingDirectory()}, run.Args)
	require.Contains(t, run.Env, "V=1")
	require.Contains(t, run.Env, "FROM_ENTER=yes")
	require.Contains(t, run.Env, session.SessionDirVar+"="+b.s.WorkingDirectory())
	require.False(t, slices.ContainsFunc(run.Env, func(kv string) bool { return strings.HasPrefix(kv, "PATH=") }),
		"the host's environment stays out")

	r.fail = errors.New("no container")
	b = setup(t, session.Config{Runner: r})
	res, err = b.s.RunTask(context.Background(), &jt.Steps[0], nil)
	require.NoError(t, err)
	require.Equal(t, session.Failed, res.State)
	require.Equal(t, "no container", res.Message)
}

// TestRunnerCancel: the cancelation method reaches the Runner's Process:
// NOTIFY_THEN_TERMINATE stops it with the notify period as its grace,
// TERMINATE and a timeout with none.
func TestRunnerCancel(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		cancel string
		grace  time.Duration
		state  session.State
	}{
		{"{mode: NOTIFY_THEN_TERMINATE, notifyPeriodInSeconds: 600}", 600 * time.Second, session.Canceled},
		{"{mode: TERMINATE}", 0, session.Canceled},
		{"{mode: TERMINATE}\n        timeout: 1", 0, session.TimedOut},
	} {
		r := &fakeRunner{lines: []string{"ready"}, wait: true}
		b := setup(t, session.Config{Runner: r})
		st := step(t, "  script:\n    actions:\n      onRun:\n        command: x\n        cancelation: "+c.cancel+"\n")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan session.Result)
		go func() {
			res, _ := b.s.RunTask(ctx, st, nil)
			done <- res
		}()
		if c.state == session.Canceled {
			require.Eventually(t, func() bool { return strings.Contains(b.output(), "ready") }, 10*time.Second, 5*time.Millisecond)
			cancel()
		}
		res := <-done
		cancel()
		require.Equal(t, c.state, res.State, c.cancel)
		require.Contains(t, b.output(), "Canceling fake via", c.cancel)
		require.Equal(t, "grace "+c.grace.String(), res.Signal, c.cancel)
	}
}
