package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"

	bclient "github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/daemon"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/worker/sessionbox"
)

// sessionJob is a job template of one step of n tasks whose job
// environment says when it is entered and exited, and whose tasks print
// the host they run on (a container's ID when in one).
func sessionJob(t *testing.T, dir string, n int) string {
	t.Helper()
	tmpl := fmt.Sprintf(`specificationVersion: jobtemplate-2023-09
name: Sessions
jobEnvironments:
- name: Inner
  script:
    actions:
      onEnter: {command: sh, args: [-c, 'echo INNER-ENTER-$(hostname)']}
      onExit: {command: sh, args: [-c, 'echo INNER-EXIT-$(hostname)']}
steps:
- name: Render
  parameterSpace:
    taskParameterDefinitions:
    - {name: Frame, type: INT, range: "1-%d"}
  script:
    actions:
      onRun: {command: sh, args: [-c, 'echo FRAME-{{Task.Param.Frame}}-ON-$(hostname)']}
`, n)
	p := filepath.Join(dir, "job.yaml")
	require.NoError(t, os.WriteFile(p, []byte(tmpl), 0o600))
	return p
}

// containerCreates counts the containers the engine creates with label
// from now on, until the returned func is called; it returns their IDs.
func containerCreates(t *testing.T, dc *client.Client, labels ...string) func() []string {
	ctx, cancel := context.WithCancel(context.Background())
	f := make(client.Filters).Add("type", string(events.ContainerEventType)).Add("event", "create").Add("label", labels...)
	// Since replays what happened after now even if the subscription is
	// in place only later: on a loaded machine no create is missed.
	now := time.Now()
	sub := dc.Events(ctx, client.EventsListOptions{Filters: f, Since: fmt.Sprintf("%d.%09d", now.Unix(), now.Nanosecond())})
	var mu sync.Mutex
	var ids []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case m := <-sub.Messages:
				mu.Lock()
				ids = append(ids, m.Actor.ID)
				mu.Unlock()
			case <-sub.Err:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return func() []string {
		time.Sleep(200 * time.Millisecond) // the last events arrive
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return ids
	}
}

// submitSteps runs berth submit with args and returns the jobs of the steps.
func submitSteps(t *testing.T, s *testenv.Server, args ...string) []int64 {
	t.Helper()
	r := s.Berth("", append([]string{"submit", "--json"}, args...)...)
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	var res job.OpenJDSubmitted
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &res), r.Stdout)
	ids := make([]int64, len(res.Steps))
	for i, st := range res.Steps {
		ids[i] = st.Job
	}
	return ids
}

// stepLogs returns the logs of every task of a step's job, in order.
func stepLogs(t *testing.T, s *testenv.Server, id int64, n int) []string {
	t.Helper()
	out := make([]string, n)
	for i := range n {
		r := s.Berth("", "logs", job.Ref{Job: id, Index: i + 1, HasIndex: true}.String())
		require.Equal(t, 0, r.Code, r.Stderr)
		out[i] = r.Stdout
	}
	return out
}

// TestSessionWrapDockerEnvironment submits, through the server, a 5-task
// step with the WRAP_ACTIONS Docker environment of docs/examples: one
// container serves the whole session (the engine creates one), the inner
// environment is entered and exited once, and every task runs in it.
func TestSessionWrapDockerEnvironment(t *testing.T) {
	image := testenv.DockerImage(t)
	dc := testenv.RequireDocker(t)
	s := testenv.StartServer(t, "--slots", "2")
	dir := testenv.ShortTempDir(t)
	tmpl := sessionJob(t, dir, 5)
	env, err := filepath.Abs("../docs/examples/openjd-docker-env.yaml")
	require.NoError(t, err)

	created := containerCreates(t, dc, "openjd.session")
	ids := submitSteps(t, s, tmpl, "--environment", env, "-p", "DockerImage="+image, "--max-parallel", "1", "--wait")
	ctrs := created()
	require.Len(t, ctrs, 1, "one container for the session")

	logs := strings.Join(stepLogs(t, s, ids[0], 5), "")
	host := ctrs[0][:12] // a container's hostname is its short ID
	require.Equal(t, 1, strings.Count(logs, "INNER-ENTER-"+host), logs)
	require.Equal(t, 1, strings.Count(logs, "INNER-EXIT-"+host), logs)
	for f := 1; f <= 5; f++ {
		require.Contains(t, logs, fmt.Sprintf("FRAME-%d-ON-%s", f, host))
	}
}

// TestSessionImage is the same with berth's built-in container
// environment, and a 20-task step with max-parallel 2 uses at most two
// sessions, so two containers.
func TestSessionImage(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	dc := testenv.RequireDocker(t)
	s := testenv.StartServer(t, "--slots", "4")
	dir := testenv.ShortTempDir(t)

	created := containerCreates(t, dc, sessionbox.LabelSession, "berth.executor="+daemon.LocalInstance(s.Dir))
	ids := submitSteps(t, s, sessionJob(t, dir, 5), "--image", image, "--max-parallel", "1", "--wait")
	ctrs := created()
	require.Len(t, ctrs, 1, "one container for the session")
	logs := strings.Join(stepLogs(t, s, ids[0], 5), "")
	host := ctrs[0][:12]
	require.Equal(t, 1, strings.Count(logs, "INNER-ENTER-"+host), logs)
	require.Equal(t, 1, strings.Count(logs, "INNER-EXIT-"+host), logs)
	for f := 1; f <= 5; f++ {
		require.Contains(t, logs, fmt.Sprintf("FRAME-%d-ON-%s", f, host))
	}

	created = containerCreates(t, dc, sessionbox.LabelSession, "berth.executor="+daemon.LocalInstance(s.Dir))
	ids = submitSteps(t, s, sessionJob(t, dir, 20), "--image", image, "--max-parallel", "2", "--wait")
	ctrs = created()
	require.NotEmpty(t, ctrs)
	require.LessOrEqual(t, len(ctrs), 2, "at most two sessions")
	logs = strings.Join(stepLogs(t, s, ids[0], 20), "")
	require.Equal(t, len(ctrs), strings.Count(logs, "INNER-ENTER-"), logs)
}

// TestSessionProcesses runs a 20-task step in process sessions through the
// server: max-parallel 2 means at most two sessions, each entering and
// exiting the job environment once, and berth show names the session of
// every task.
func TestSessionProcesses(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t, "--slots", "4")
	dir := testenv.ShortTempDir(t)
	ids := submitSteps(t, s, sessionJob(t, dir, 20), "--max-parallel", "2", "--wait")
	// A session that learns after its last task's end that nothing more
	// comes exits then, appending to that task's log.
	var logs string
	var enters int
	require.Eventually(t, func() bool {
		logs = strings.Join(stepLogs(t, s, ids[0], 20), "")
		enters = strings.Count(logs, "INNER-ENTER-")
		return enters == strings.Count(logs, "INNER-EXIT-")
	}, 10*time.Second, 100*time.Millisecond, "every session exits its environment")
	require.GreaterOrEqual(t, enters, 1)
	require.LessOrEqual(t, enters, 2, "at most two sessions")

	sessions := map[string]bool{}
	for tk, err := range s.Client().TasksAll(context.Background(), ids[0], bclient.TaskParams{}) {
		require.NoError(t, err)
		require.Equal(t, job.Done, tk.State)
		require.NotEmpty(t, tk.Session, "task %d names its session", tk.Index)
		sessions[tk.Session] = true
	}
	require.Len(t, sessions, enters)
}

// TestSessionWorkerKilled kills the local worker while two sessions run
// tasks: the restarted worker kills what the sessions left, the tasks,
// rerunnable, run again (never while their first attempt still runs) and
// the step completes.
func TestSessionWorkerKilled(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t, "--slots", "2")
	defer func() {
		if t.Failed() {
			t.Log(s.Log())
		}
	}()
	dir := testenv.ShortTempDir(t)
	gate := filepath.Join(dir, "gate")
	tmpl := fmt.Sprintf(`specificationVersion: jobtemplate-2023-09
name: Killed
steps:
- name: Work
  parameterSpace:
    taskParameterDefinitions:
    - {name: N, type: INT, range: "1-4"}
  script:
    actions:
      onRun:
        command: sh
        args:
        - -c
        - |
          for p in $(cat %[1]s/pids-{{Task.Param.N}} 2>/dev/null); do kill -0 $p 2>/dev/null && echo DOUBLE-RUN; done
          echo $$ >> %[1]s/pids-{{Task.Param.N}}
          while [ ! -e %[2]s ]; do sleep 0.05; done
          echo DONE-{{Task.Param.N}}
`, dir, gate)
	p := filepath.Join(dir, "job.yaml")
	require.NoError(t, os.WriteFile(p, []byte(tmpl), 0o600))
	ids := submitSteps(t, s, p, "--rerunnable", "--max-parallel", "2")
	c := s.Client()
	defer func() {
		if t.Failed() {
			for tk, err := range c.TasksAll(context.Background(), ids[0], bclient.TaskParams{}) {
				if err == nil {
					t.Logf("task %d: %s %s attempt %d session %q message %q", tk.Index, tk.State, tk.SubState, tk.Attempt, tk.Session, tk.Message)
				}
			}
		}
	}()
	running := func() []*job.Task {
		var out []*job.Task
		for tk, err := range c.TasksAll(context.Background(), ids[0], bclient.TaskParams{}) {
			require.NoError(t, err)
			if tk.State == job.Running {
				out = append(out, tk)
			}
		}
		return out
	}
	require.Eventually(t, func() bool {
		rs := running()
		if len(rs) != 2 {
			return false
		}
		for _, tk := range rs {
			// Started as the server knows it (an attempt that never got
			// so far is put back unspent).
			if _, err := os.Stat(filepath.Join(dir, fmt.Sprintf("pids-%d", tk.Index))); err != nil || tk.Session == "" {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond)
	old := s.WorkerPID()
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))

	require.Eventually(t, func() bool {
		return s.WorkerPID() != old && s.WorkerPID() != 0
	}, 30*time.Second, 50*time.Millisecond, "a new local worker runs")
	// The killed attempts are lost, and wait for their retry (the other
	// tasks may take the slots meanwhile).
	lost := func() int {
		n := 0
		for tk, err := range c.TasksAll(context.Background(), ids[0], bclient.TaskParams{}) {
			require.NoError(t, err)
			if tk.Attempt >= 2 || tk.SubState.Value == string(job.ReasonLost) || tk.SubState.Kind == job.ReasonLost {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return lost() == 2 }, 40*time.Second, 50*time.Millisecond, "the killed tasks are lost")
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	r := s.Berth("", "wait", "--timeout", "60s", fmt.Sprint(ids[0]))
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	logs := strings.Join(stepLogs(t, s, ids[0], 4), "")
	require.NotContains(t, logs, "DOUBLE-RUN")
	for n := 1; n <= 4; n++ {
		require.Contains(t, logs, fmt.Sprintf("DONE-%d", n))
	}
	attempts := 0
	for tk, err := range c.TasksAll(context.Background(), ids[0], bclient.TaskParams{}) {
		require.NoError(t, err)
		attempts += tk.Attempt
	}
	require.Equal(t, 6, attempts, "the two killed tasks ran again, once each")
}

// TestSessionImageWorkerKilled kills the local worker while a session runs
// in its container: the restarted worker removes the container, and the
// rerunnable task runs again in a new session.
func TestSessionImageWorkerKilled(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	dc := testenv.RequireDocker(t)
	s := testenv.StartServer(t, "--slots", "1")
	defer func() {
		if t.Failed() {
			t.Log(s.Log())
		}
	}()
	dir := testenv.ShortTempDir(t)
	gate := filepath.Join(dir, "gate")
	tmpl := fmt.Sprintf(`specificationVersion: jobtemplate-2023-09
name: KilledBox
steps:
- name: Work
  script:
    actions:
      onRun:
        command: sh
        args: [-c, 'while [ ! -e %s ]; do sleep 0.05; done; echo DONE-IN-$(hostname)']
`, gate)
	p := filepath.Join(dir, "job.yaml")
	require.NoError(t, os.WriteFile(p, []byte(tmpl), 0o600))
	created := containerCreates(t, dc, sessionbox.LabelSession, "berth.executor="+daemon.LocalInstance(s.Dir))
	ids := submitSteps(t, s, p, "--rerunnable", "--image", image, "--mount", dir+":"+dir)
	c := s.Client()
	require.Eventually(t, func() bool {
		tk, err := c.Task(context.Background(), job.Ref{Job: ids[0]})
		require.NoError(t, err)
		return tk.State == job.Running && tk.Session != ""
	}, 30*time.Second, 50*time.Millisecond)
	old := s.WorkerPID()
	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))
	first := created()
	require.Len(t, first, 1)
	require.Eventually(t, func() bool {
		_, err := dc.ContainerInspect(context.Background(), first[0], client.ContainerInspectOptions{})
		return err != nil
	}, 40*time.Second, 100*time.Millisecond, "the restarted worker removed the session's container")
	require.Eventually(t, func() bool {
		tk, err := c.Task(context.Background(), job.Ref{Job: ids[0]})
		require.NoError(t, err)
		return tk.State == job.Running && tk.Attempt == 2 && tk.Session != ""
	}, 40*time.Second, 50*time.Millisecond, "the task runs again")
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	r := s.Berth("", "wait", "--timeout", "60s", fmt.Sprint(ids[0]))
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	logs := s.Berth("", "logs", fmt.Sprint(ids[0])).Stdout
	require.Contains(t, logs, "DONE-IN-")
	require.NotContains(t, logs, "DONE-IN-"+first[0][:12])
}
