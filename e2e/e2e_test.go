package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}

// submitted parses the job ID `berth run -d` prints.
func submitted(t *testing.T, r testenv.Result) int64 {
	t.Helper()
	require.Equal(t, 0, r.Code, "stderr: %s", r.Stderr)
	id, err := strconv.ParseInt(strings.TrimSpace(r.Stdout), 10, 64)
	require.NoError(t, err, "stdout: %q", r.Stdout)
	return id
}

func showJSON(t *testing.T, s *testenv.Server, ref string) map[string]any {
	t.Helper()
	r := s.Berth("", "show", ref, "--json")
	require.Equal(t, 0, r.Code, r.Stderr)
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &m), r.Stdout)
	return m
}

func jobOf(t *testing.T, s *testenv.Server, id int64) *job.Job {
	t.Helper()
	j, err := s.Client().Job(context.Background(), id)
	require.NoError(t, err)
	return j
}

func taskOf(t *testing.T, s *testenv.Server, ref string) *job.Task {
	t.Helper()
	r, err := job.ParseRef(ref)
	require.NoError(t, err)
	d, err := s.Client().Task(context.Background(), r)
	require.NoError(t, err)
	return &d.Task
}

func TestRunForeground(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	r := s.Berth("", "run", "--", "sh", "-c", "echo out; echo err >&2; exit 7")
	require.Equal(t, 7, r.Code)
	require.Equal(t, "out\n", r.Stdout)
	require.Equal(t, "err\n", r.Stderr)

	// argv is passed as is: no shell sees it.
	r = s.Berth("", "run", "--", "echo", "a b", "$HOME", "; rm -rf /", "'q'")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "a b $HOME ; rm -rf / 'q'\n", r.Stdout)

	r = s.Berth("", "run", "--env", "GREETING=hi there", "--workdir", "/tmp", "--", "sh", "-c", `echo "$GREETING $(pwd) $BERTH_JOB_ID"`)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Regexp(t, `^hi there /tmp \d+\n$`, r.Stdout)

	r = s.Berth("", "run", "--", "sh", "-c", "kill -9 $$")
	require.Equal(t, 128+9, r.Code)

	// A missing command: 127 and the shell's words, no internal prefixes.
	r = s.Berth("", "run", "--", "/no/such/command")
	require.Equal(t, 127, r.Code)
	require.Equal(t, "berth: job 5 failed: could not start: /no/such/command: command not found\n", r.Stderr)
	id := int64(5)
	tk := taskOf(t, s, fmt.Sprint(id))
	require.Equal(t, job.Failed, tk.State)
	require.Equal(t, job.ReasonStartFailed, tk.SubState.Kind)
	require.Equal(t, "/no/such/command: command not found", tk.Message)
	r = s.Berth("", "run", "--", "nosuch-berth-command")
	require.Equal(t, 127, r.Code)
	require.Contains(t, r.Stderr, "nosuch-berth-command: command not found")
}

func TestDetachedVerbs(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	id := submitted(t, s.Berth("", "run", "-d", "--name", "greeter", "--label", "team=ops", "--", "sh", "-c",
		`echo one; echo '{"n": 1}' >> "$BERTH_RESULT"; echo warn >&2`))
	r := s.Berth("", "wait", fmt.Sprint(id))
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)

	// Both streams; written at once, in either order.
	r = s.Berth("", "logs", fmt.Sprint(id))
	require.ElementsMatch(t, []string{"one", "warn"}, strings.Fields(r.Stdout))
	r = s.Berth("", "logs", "--stdout", fmt.Sprint(id))
	require.Equal(t, "one\n", r.Stdout)
	r = s.Berth("", "logs", "--stderr", fmt.Sprint(id))
	require.Equal(t, "warn\n", r.Stdout)

	// ls filters and JSON.
	r = s.Berth("", "ls", "--label", "team=ops", "--json")
	require.Equal(t, 0, r.Code, r.Stderr)
	var jobs []job.Job
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &jobs), r.Stdout)
	require.Len(t, jobs, 1)
	require.Equal(t, "greeter", jobs[0].Name)
	require.Equal(t, job.Done, jobs[0].State)
	require.True(t, jobs[0].HasMoreData)
	r = s.Berth("", "ls", "--name", "nomatch*", "--json")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.JSONEq(t, "[]", r.Stdout)
	r = s.Berth("", "ls", "--state", "bogus")
	require.Equal(t, 2, r.Code)
	require.Contains(t, r.Stderr, "--state")

	// show has the info.
	m := showJSON(t, s, fmt.Sprint(id))
	require.Equal(t, "Done", m["job"].(map[string]any)["state"], m)
	require.Len(t, m["tasks"], 1)

	// receive returns what is new, then nothing; results as objects.
	r = s.Berth("", "receive", "--json", fmt.Sprint(id))
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, `"one\n"`)
	require.Regexp(t, `"n":\s*1`, r.Stdout)
	r = s.Berth("", "receive", "--json", fmt.Sprint(id))
	require.Equal(t, 0, r.Code, r.Stderr)
	require.NotContains(t, r.Stdout, "one")
	require.False(t, jobOf(t, s, id).HasMoreData)

	// rm removes the job and its files.
	r = s.Berth("", "rm", fmt.Sprint(id))
	require.Equal(t, 0, r.Code, r.Stderr)
	_, err := os.Stat(s.Dir.JobDir(id))
	require.True(t, os.IsNotExist(err))
	r = s.Berth("", "show", fmt.Sprint(id))
	require.Equal(t, 2, r.Code)
	require.Contains(t, r.Stderr, fmt.Sprintf("no job %d", id))
}

func TestReceiveIncremental(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	gate := filepath.Join(testenv.ShortTempDir(t), "gate")
	id := submitted(t, s.Berth("", "run", "-d", "--", "sh", "-c",
		fmt.Sprintf(`echo first; echo 1 >> "$BERTH_RESULT"; while [ ! -e %s ]; do sleep 0.05; done; echo second; echo 2 >> "$BERTH_RESULT"`, gate)))
	require.Eventually(t, func() bool {
		r := s.Berth("", "logs", fmt.Sprint(id))
		return r.Stdout == "first\n"
	}, 10*time.Second, 50*time.Millisecond)
	r := s.Berth("", "receive", fmt.Sprint(id))
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "first\n")
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	require.Equal(t, 0, s.Berth("", "wait", fmt.Sprint(id)).Code)
	r = s.Berth("", "receive", "--keep", fmt.Sprint(id))
	require.Contains(t, r.Stdout, "second\n")
	require.NotContains(t, r.Stdout, "first")
	require.Contains(t, r.Stdout, "2")
	r = s.Berth("", "receive", fmt.Sprint(id))
	require.Contains(t, r.Stdout, "second\n", "--keep did not consume")
	r = s.Berth("", "receive", fmt.Sprint(id))
	require.Empty(t, strings.TrimSpace(r.Stdout))
}

// procState reads the state letter of a process from /proc.
func procState(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	require.NoError(t, err)
	s := string(b)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0]
}

func TestSuspendResumeStop(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	counter := filepath.Join(testenv.ShortTempDir(t), "count")
	id := submitted(t, s.Berth("", "run", "-d", "--", "sh", "-c",
		fmt.Sprintf(`while true; do echo x >> %s; sleep 0.02; done`, counter)))
	ref := fmt.Sprint(id)
	var pid int
	require.Eventually(t, func() bool {
		tk := taskOf(t, s, ref)
		pid = tk.PID
		return tk.State == job.Running && pid > 0
	}, 10*time.Second, 20*time.Millisecond)

	r := s.Berth("", "suspend", ref)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, job.Suspended, taskOf(t, s, ref).State)
	// Stopped; or, if SIGSTOP caught the shell inside vfork, waiting (D) on
	// its stopped child. The counter below is the real proof.
	require.Contains(t, []string{"T", "D"}, procState(t, pid), "the process is stopped")
	size := func() int64 {
		fi, err := os.Stat(counter)
		require.NoError(t, err)
		return fi.Size()
	}
	before := size()
	time.Sleep(300 * time.Millisecond)
	require.Equal(t, before, size(), "no progress while suspended")

	r = s.Berth("", "resume", ref)
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, job.Running, taskOf(t, s, ref).State)
	require.Eventually(t, func() bool { return size() > before }, 5*time.Second, 20*time.Millisecond)

	// A running job cannot be held; rm refuses it without --force.
	r = s.Berth("", "hold", ref)
	require.NotEqual(t, 0, r.Code)
	r = s.Berth("", "rm", ref)
	require.NotEqual(t, 0, r.Code)
	require.Contains(t, r.Stderr, "--force")

	r = s.Berth("", "stop", ref)
	require.Equal(t, 0, r.Code, r.Stderr)
	r = s.Berth("", "wait", ref)
	require.Equal(t, 1, r.Code)
	tk := taskOf(t, s, ref)
	require.Equal(t, job.Failed, tk.State)
	require.Equal(t, job.ReasonCanceled, tk.SubState.Kind)
	require.Equal(t, "SIGTERM", tk.Signal)
}

func TestTimeLimit(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	start := time.Now()
	r := s.Berth("", "run", "--time-limit", "1s", "--", "sleep", "30")
	require.NotEqual(t, 0, r.Code)
	require.Less(t, time.Since(start), 15*time.Second)
	m := jobOf(t, s, 1)
	require.Equal(t, job.Failed, m.State)
	require.Equal(t, job.ReasonTimeLimit, m.SubState.Kind)
}

func TestHoldRelease(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	id := submitted(t, s.Berth("", "run", "-d", "--hold", "--", "true"))
	ref := fmt.Sprint(id)
	require.Equal(t, job.QueuedHeld, jobOf(t, s, id).State)
	r := s.Berth("", "wait", "--timeout", "500ms", ref)
	require.Equal(t, 124, r.Code, "still held")
	require.Equal(t, 0, s.Berth("", "release", ref).Code)
	require.Equal(t, 0, s.Berth("", "wait", "--timeout", "20s", ref).Code)
	require.Equal(t, job.Done, jobOf(t, s, id).State)
}

func TestDependencies(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	dir := testenv.ShortTempDir(t)
	a := submitted(t, s.Berth("", "run", "-d", "--", "sh", "-c", fmt.Sprintf("sleep 0.5; echo a >> %s/order", dir)))
	b := submitted(t, s.Berth("", "run", "-d", "--after", fmt.Sprint(a), "--", "sh", "-c", fmt.Sprintf("echo b >> %s/order", dir)))
	bad := submitted(t, s.Berth("", "run", "-d", "--", "false"))
	c := submitted(t, s.Berth("", "run", "-d", "--after", fmt.Sprintf("%d,%d", a, bad), "--", "true"))
	r := s.Berth("", "wait", fmt.Sprint(b), fmt.Sprint(c))
	require.Equal(t, 1, r.Code, r.Stdout)
	order, err := os.ReadFile(filepath.Join(dir, "order"))
	require.NoError(t, err)
	require.Equal(t, "a\nb\n", string(order), "b starts after a is Done")
	cj := jobOf(t, s, c)
	require.Equal(t, job.Failed, cj.State)
	require.Equal(t, job.SubState{Kind: job.ReasonDependency, Value: fmt.Sprint(bad)}, cj.SubState)
}

func TestArrayMaxParallelObserved(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t, "--slots", "8")
	dir := testenv.ShortTempDir(t)
	// Each task notes how many tasks hold a marker while it holds its own.
	script := fmt.Sprintf(`mkdir %[1]s/run.$BERTH_TASK_INDEX; ls %[1]s | grep -c '^run' >> %[1]s/counts; sleep 0.3; rmdir %[1]s/run.$BERTH_TASK_INDEX`, dir)
	r := s.Berth("", "run", "--array", "1-12", "--max-parallel", "3", "--", "sh", "-c", script)
	require.Equal(t, 0, r.Code, r.Stdout+r.Stderr)
	b, err := os.ReadFile(filepath.Join(dir, "counts"))
	require.NoError(t, err)
	fields := strings.Fields(string(b))
	require.Len(t, fields, 12)
	peak := 0
	for _, f := range fields {
		n, err := strconv.Atoi(f)
		require.NoError(t, err)
		peak = max(peak, n)
	}
	require.LessOrEqual(t, peak, 3, "never more than 3 at once")
	require.GreaterOrEqual(t, peak, 2, "tasks did run in parallel")
}

func TestRunEach(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	in := "alpha\nbeta\n\ngamma\n"
	r := s.Berth(in, "run", "--each", "-", "--max-parallel", "2", "--", "sh", "-c", `echo "host {}"; [ "{}" != beta ]`)
	require.Equal(t, 1, r.Code, "one input failed")
	require.Contains(t, r.Stdout, "alpha")
	require.Regexp(t, `beta\s+Failed\s+1`, r.Stdout)
	require.Contains(t, r.Stdout+r.Stderr, "2 succeeded, 1 failed")

	r = s.Berth("one\ntwo\n", "run", "--each", "-", "--json", "--", "echo", "{}")
	require.Equal(t, 0, r.Code, r.Stderr)
	var tasks []job.Task
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &tasks), r.Stdout)
	require.Len(t, tasks, 2)
	require.Equal(t, "two", tasks[1].Input)
	require.Equal(t, job.Done, tasks[1].State)
}

func TestCLIErrors(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	r := s.Berth("", "show", "999")
	require.Equal(t, 2, r.Code)
	require.Contains(t, r.Stderr, "no job 999")
	r = s.Berth("", "run", "--array", "1-x", "--", "true")
	require.Equal(t, 2, r.Code)
	require.Contains(t, r.Stderr, "--array")
	r = s.Berth("", "run", "--time-limit", "soon", "--", "true")
	require.Equal(t, 2, r.Code)
	require.Contains(t, r.Stderr, "--time-limit")
	r = s.Berth("", "run", "--after", "999", "--", "true")
	require.Equal(t, 2, r.Code)
	require.Equal(t, "--after: no job 999\n", r.Stderr)
	r = s.Berth("", "run", "--array", "1-2", "--", "true")
	require.Equal(t, 0, r.Code, r.Stderr)
	r = s.Berth("", "logs", "1.9")
	require.Equal(t, 2, r.Code, "not found")
	require.Equal(t, "no task 1.9\n", r.Stderr)
	r = s.Berth("", "logs", "1")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "==> 1.1 <==\n\n==> 1.2 <==\n", r.Stdout, "each task's (empty) output in turn")
	r = s.Berth("", "resume", "1")
	require.Equal(t, 1, r.Code)
	require.Equal(t, "1: job 1 has ended (Done)\n", r.Stderr)

	// A wrong address: what answered there.
	web := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(web.Close)
	r = s.BerthEnv(t.Context(), []string{"BERTH_ADDR=" + web.URL, "BERTH_TOKEN=x"}, "ls")
	require.Equal(t, 3, r.Code)
	require.Equal(t, "not a berth server at "+web.URL+": it answered 404 Not Found: 404 page not found\n", r.Stderr)

	// No server: a clear message.
	r = s.Berth("", "ls")
	require.Equal(t, 0, r.Code)
	s.Stop()
	r = s.Berth("", "ls")
	require.Equal(t, 3, r.Code)
	require.Contains(t, r.Stderr, "no berth server at")
	require.Contains(t, r.Stderr, "berth serve")
}

// TestReceiveBinaryAndInputs: receive passes binary output through byte for
// byte, and --json names each task's input line and job.
func TestReceiveBinaryAndInputs(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	r := s.Berth("a\nb\n", "run", "--each", "-", "-d", "--name", "bin", "--", "sh", "-c", `printf '\211PNG\000\377{}\n'`)
	id := submitted(t, r)
	require.Equal(t, 0, s.Berth("", "wait", fmt.Sprint(id)).Code)

	r = s.Berth("", "receive", "--keep", fmt.Sprint(id))
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "\x89PNG\x00\xffa\n\x89PNG\x00\xffb\n", r.Stdout)

	r = s.Berth("", "receive", "--json", fmt.Sprint(id))
	require.Equal(t, 0, r.Code, r.Stderr)
	var got struct {
		Tasks []map[string]any `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &got), r.Stdout)
	require.Len(t, got.Tasks, 2)
	for i, in := range []string{"a", "b"} {
		tk := got.Tasks[i]
		require.Equal(t, "bin", tk["name"])
		require.Equal(t, in, tk["input"])
		require.Equal(t, "\uFFFDPNG\x00\uFFFD"+in+"\n", tk["stdout"])
		require.Equal(t, base64.StdEncoding.EncodeToString([]byte("\x89PNG\x00\xff"+in+"\n")), tk["stdout_base64"])
	}
}
