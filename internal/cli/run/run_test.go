package run

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/job"
)

func intp(n int) *int { return &n }

func TestNewCmdRunFlags(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	require.NoError(t, err)
	for _, tc := range []struct {
		name    string
		args    []string
		want    job.Spec
		detach  bool
		each    string
		wantErr string
	}{
		{name: "command only", args: []string{"--", "echo", "hi"},
			want: job.Spec{Template: job.Template{Command: "echo", Args: []string{"hi"}}}},
		{name: "command flags are the command's", args: []string{"ls", "-l", "--json"},
			want: job.Spec{Template: job.Template{Command: "ls", Args: []string{"-l", "--json"}}}},
		{name: "everything", args: []string{
			"--name", "n", "--env", "A=1", "--env", "B=x=y", "--workdir", "/w", "--array", "1-100:2",
			"--max-parallel", "4", "--time-limit", "1m30s", "--hold", "--after", "3,4", "--after", "5",
			"--label", "k=v", "--priority", "-7", "--pool", "gpu", "--rerunnable", "--max-attempts", "5",
			"--retry-delay", "10s", "--retry-delay-max", "1m",
			"-d", "--", "./x"},
			detach: true,
			want: job.Spec{Name: "n", Array: &job.Array{Begin: 1, End: 100, Step: 2}, MaxParallel: 4, Hold: true,
				After: []int64{3, 4, 5}, Labels: map[string]string{"k": "v"}, Priority: -7, Pool: "gpu",
				Template: job.Template{Command: "./x", Env: map[string]string{"A": "1", "B": "x=y"}, WorkDir: "/w",
					TimeLimit: job.Duration(90 * time.Second), Rerunnable: true, MaxAttempts: 5,
					RetryDelay: job.Duration(10 * time.Second), RetryDelayMax: job.Duration(time.Minute)}}},
		{name: "each", args: []string{"--each", "-", "--", "gzip", "{}"}, each: "-",
			want: job.Spec{Template: job.Template{Command: "gzip", Args: []string{"{}"}}}},
		{name: "grace", args: []string{"--grace", "3s", "--time-limit", "1m", "--", "true"},
			want: job.Spec{Template: job.Template{Command: "true", StopGrace: job.Duration(3 * time.Second), TimeLimit: job.Duration(time.Minute)}}},
		{name: "no command", args: []string{"--name", "x"}, wantErr: "missing COMMAND"},
		{name: "bad array", args: []string{"--array", "1-x", "--", "true"}, wantErr: `invalid argument "1-x" for "--array" flag: invalid array "1-x"`},
		{name: "bad duration", args: []string{"--time-limit", "soon", "--", "true"}, wantErr: `invalid argument "soon" for "--time-limit" flag`},
		{name: "bad env", args: []string{"--env", "=1", "--", "true"}, wantErr: `invalid argument "=1" for "--env" flag`},
		{name: "bad after", args: []string{"--after", "3,x", "--", "true"}, wantErr: `invalid argument "3,x" for "--after" flag: invalid job ID "x"`},
		{name: "task after", args: []string{"--after", "3.1", "--", "true"}, wantErr: `for "--after" flag: "3.1" names a task`},
		{name: "bad priority", args: []string{"--priority", "2000000", "--", "true"}, wantErr: `invalid argument "2000000" for "--priority" flag: must be between`},
		{name: "bad max-parallel", args: []string{"--max-parallel", "-1", "--", "true"}, wantErr: `for "--max-parallel" flag`},
		{name: "bad max-attempts", args: []string{"--max-attempts", "two", "--", "true"}, wantErr: `invalid argument "two" for "--max-attempts" flag: want a whole number`},
		{name: "each and array", args: []string{"--each", "f", "--array", "1-2", "--", "true"}, wantErr: "--each and --array exclude each other"},
		{name: "bad label key", args: []string{"--label", "a b=1", "--", "true"}, wantErr: `invalid job: labels: invalid key "a b"`},
		{name: "bad pool", args: []string{"--pool", "a b", "--", "true"}, wantErr: `invalid job: pool`},
		{name: "relative workdir", args: []string{"--workdir", "sub/../out", "--", "true"},
			want: job.Spec{Template: job.Template{Command: "true", WorkDir: filepath.Join(wd, "out")}}},
		{name: "relative container workdir", args: []string{"--image", "img", "--workdir", "sub", "--", "true"}, wantErr: `invalid job: template.workdir: "sub" is not an absolute path`},
		{name: "bad image", args: []string{"--image", "Img", "--", "true"}, wantErr: `invalid job: template.image: invalid image reference "Img"`},
		{name: "retry-delay-max under retry-delay", args: []string{"--rerunnable", "--retry-delay", "1m", "--retry-delay-max", "10s", "--", "true"}, wantErr: "invalid job: template.retry_delay_max: 10s is less than retry_delay 1m0s"},
		{name: "unknown flag", args: []string{"--nope", "--", "true"}, wantErr: "unknown flag: --nope"},
		{name: "container", args: []string{"--image", "img", "--memory", "256m", "--cpus", "0.5", "--network", "none",
			"--read-only", "--ext", "cap-drop=ALL", "--", "sh"},
			want: job.Spec{Template: job.Template{Command: "sh", Image: "img", Extensions: map[string]string{
				"memory": "256m", "cpus": "0.5", "net": "none", "read-only": "true", "cap-drop": "ALL"}}}},
		{name: "container setting without image", args: []string{"--memory", "1g", "--", "true"}, wantErr: "need --image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := clitest.NewEnv(t, "http://unused:1", false)
			var got *Options
			code, err := clitest.Exec(NewCmdRun(env.F, func(_ context.Context, o *Options) error { got = o; return nil }), tc.args...)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.Equal(t, cmdutil.ExitUsage, code)
				return
			}
			require.NoError(t, err)
			if tc.want.Template.Image == "" {
				tc.want.SubmitDir, _ = os.Getwd() // a process job runs where berth run was run
			}
			require.Equal(t, tc.want, got.Spec)
			require.Equal(t, tc.detach, got.Detach)
			require.Equal(t, tc.each, got.EachFile)
		})
	}
}

var server = clitest.Share(clitest.Options{})

func TestMain(m *testing.M) { clitest.Main(m) }

// unique returns a label value no other run of the tests used, since the
// server outlives one run with -count.
func unique(name string) string {
	return fmt.Sprintf("%s-%d", strings.ReplaceAll(name, " ", "-"), runs.Add(1))
}

var runs atomic.Int64

// labelled returns the ID of the one job with label test=value.
func labelled(t *testing.T, s *clitest.Server, value string) int64 {
	t.Helper()
	page, err := s.Client(t).Jobs(context.Background(), client.ListParams{Labels: map[string]string{"test": value}})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 1)
	return page.Jobs[0].ID
}

// settled drops from a run's output what follows the timing of its tasks:
// the progress before the last (how often it changed), and how long each
// task took.
func settled(s string) string {
	s = lastFrame.ReplaceAllString(s, "$2")
	s = progressLines.ReplaceAllString(s, "$2")
	return duration.ReplaceAllString(s, "${1}DUR\n")
}

var (
	lastFrame     = regexp.MustCompile(`(\r\x1b\[K[^\r\n]*)*(\r\x1b\[K[^\r\n]*\n)`)
	progressLines = regexp.MustCompile(`(?m)(^job \d+: \d+ done, .*\n)*(^job \d+: \d+ done, .*\n)`)
	duration      = regexp.MustCompile(`(?m)([\t ])[0-9.]+(ns|µs|ms|s|m[0-9.]+s)\n`)
)

// submittedID reads the job's ID from the first line a run of an array
// prints, "job ID: N tasks".
func submittedID(t *testing.T, stderr string) int64 {
	t.Helper()
	var id int64
	_, err := fmt.Sscanf(stderr, "job %d:", &id)
	require.NoError(t, err, stderr)
	return id
}

func TestRunForeground(t *testing.T) {
	t.Parallel()
	const out = "echo out line; echo err line >&2; "
	for _, tc := range []struct {
		name   string
		args   []string
		want   int
		notice string
	}{
		{"done", []string{"sh", "-c", out}, 0, ""},
		{"exit code", []string{"sh", "-c", out + "exit 3"}, 3, ""},
		{"signal", []string{"sh", "-c", out + "kill -9 $$"}, 137, "berth: job %d failed: killed by SIGKILL\n"},
		{"time limit", []string{"sh", "-c", out + "exec sleep 100"}, 143, "berth: job %d failed: time limit reached\n"},
		{"command not found", []string{"nosuch-berth-command"}, 127, "berth: job %d failed: could not start: nosuch-berth-command: command not found\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := server.Server(t)
			env := s.Env(t, false)
			label := unique(tc.name)
			flags := []string{"--label", "test=" + label, "--time-limit", "1m"}
			if tc.name == "time limit" {
				flags[3] = "1s"
			}
			code, err := clitest.Exec(NewCmdRun(env.F, nil), append(append(flags, "--"), tc.args...)...)
			require.Equal(t, tc.want, code, "err: %v", err)
			notice := ""
			if tc.notice != "" {
				notice = fmt.Sprintf(tc.notice, labelled(t, s, label))
			}
			if tc.want == 127 {
				require.Empty(t, env.Out.String())
				require.Equal(t, notice, env.ErrOut.String())
				return
			}
			require.Equal(t, "out line\n", env.Out.String())
			require.Equal(t, "err line\n"+notice, env.ErrOut.String())
		})
	}
}

func TestRunInterrupt(t *testing.T) {
	t.Parallel()
	s := clitest.StartServer(t, clitest.Options{})
	env := s.Env(t, false)
	sigs := make(chan os.Signal, 1)
	cmd := NewCmdRun(env.F, func(ctx context.Context, o *Options) error {
		o.Signals = func() (<-chan os.Signal, func()) { return sigs, func() {} }
		// Interrupt once the job (the server's only one) runs and its
		// output flows.
		c := s.Client(t)
		events, err := c.Events(ctx, nil)
		if err != nil {
			return err
		}
		defer events.Close()
		go func() {
			defer func() { sigs <- os.Interrupt }()
			for ev, err := range events.All() {
				if err != nil {
					return
				}
				if ev.State == job.Running {
					break
				}
			}
			out, err := c.Logs(ctx, job.Ref{Job: 1}, client.LogsParams{Follow: true})
			if err == nil {
				_, _ = bufio.NewReader(out).ReadString('\n')
				out.Close()
			}
		}()
		return run(ctx, o)
	})
	code, err := clitest.Exec(cmd, "--", "sh", "-c", "echo working; exec sleep 100")
	require.Equal(t, cmdutil.ExitInterrupted, code, "err: %v", err)
	require.Equal(t, "working\n", env.Out.String())
	require.Contains(t, env.ErrOut.String(), "berth: stopping job 1")
	j := s.WaitFor(t, 1, func(j *job.Job) bool { return j.State.Terminal() })
	require.Equal(t, job.Failed, j.State)
	require.Equal(t, job.ReasonCanceled, j.SubState.Kind)
}

func TestRunDetach(t *testing.T) {
	t.Parallel()
	s := server.Server(t)
	env := s.Env(t, false)
	label := unique("detach")
	code, err := clitest.Exec(NewCmdRun(env.F, nil), "-d", "--label", "test="+label, "--", "true")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, fmt.Sprintf("%d\n", labelled(t, s, label)), env.Out.String())

	env = s.Env(t, false)
	label = unique("detach-json")
	// Held, so that the answer cannot find it already running.
	_, err = clitest.Exec(NewCmdRun(env.F, nil), "-d", "--json", "--hold", "--label", "test="+label, "--", "true")
	require.NoError(t, err)
	var j job.Job
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &j))
	require.Equal(t, labelled(t, s, label), j.ID)
	require.Equal(t, job.QueuedHeld, j.State)
}

func TestRunEach(t *testing.T) {
	t.Parallel()
	s := server.Server(t)
	env := s.Env(t, false)
	env.In.WriteString("a.wav\n\n  \nbad.wav\r\nc.wav")
	// The failure's stderr: the summary shows its last 5 lines.
	script := `case "$1" in bad*) printf 'one\ntwo\n\nthree\nfour\nfive\nflac: %s: not a WAV file\n' "$1" >&2; exit 2;; esac`
	code, err := clitest.Exec(NewCmdRun(env.F, nil), "--each", "-", "--max-parallel", "2", "--", "sh", "-c", script, "flac", "{}")
	require.Equal(t, 1, code, "err: %v", err)
	id := submittedID(t, env.ErrOut.String())
	j, err := s.Client(t).Job(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, []string{"a.wav", "bad.wav", "c.wav"}, j.Inputs)
	require.Equal(t, 2, j.MaxParallel)
	require.Equal(t, ""+
		"1\ta.wav\tDone\t0\tDUR\n"+
		"2\tbad.wav\tFailed\t2\tDUR\n"+
		"3\tc.wav\tDone\t0\tDUR\n", settled(env.Out.String()))
	require.Equal(t, fmt.Sprintf(""+
		"job %[1]d: 3 tasks\n"+
		"job %[1]d: 2 done, 1 failed, 0 running, 0 queued (3 tasks, 0s elapsed)\n"+
		"task %[1]d.2 (bad.wav) failed: exit code 2\n"+
		"  | two\n"+
		"  | three\n"+
		"  | four\n"+
		"  | five\n"+
		"  | flac: bad.wav: not a WAV file\n"+
		"2 succeeded, 1 failed\n", id), settled(env.ErrOut.String()))
}

func TestRunEachFileTerminalAndJSON(t *testing.T) {
	t.Parallel()
	s := server.Server(t)
	file := filepath.Join(t.TempDir(), "inputs")
	require.NoError(t, os.WriteFile(file, []byte("x\ny\n"), 0o600))

	env := s.Env(t, true)
	cmd := NewCmdRun(env.F, func(ctx context.Context, o *Options) error {
		o.progressEvery = 0 // no redraws for the clock alone
		return run(ctx, o)
	})
	code, err := clitest.Exec(cmd, "--each", file, "--", "echo", "{}")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, ""+
		"INDEX  INPUT  STATE  EXIT  DURATION\n"+
		"1      x      Done   0     DUR\n"+
		"2      y      Done   0     DUR\n", settled(env.Out.String()))
	require.Equal(t, fmt.Sprintf(""+
		"job %[1]d: 2 tasks\n"+
		"\r\x1b[Kjob %[1]d: 2 done, 0 failed, 0 running, 0 queued (2 tasks, 0s elapsed)\n"+
		"2 succeeded, 0 failed\n", submittedID(t, env.ErrOut.String())), settled(env.ErrOut.String()))

	env = s.Env(t, false)
	_, err = clitest.Exec(NewCmdRun(env.F, nil), "--json", "--each", file, "--", "echo", "{}")
	require.NoError(t, err)
	var tasks []job.Task
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &tasks))
	require.Len(t, tasks, 2)
	require.Equal(t, "y", tasks[1].Input)
}

// TestRunEachErrors: bad input is refused before anything reaches the
// server (there is none: that would be another error).
func TestRunEachErrors(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "127.0.0.1:1", false)
	env.In.WriteString("\n\n")
	code, err := clitest.Exec(NewCmdRun(env.F, nil), "--each", "-", "--", "echo")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, "--each: no input lines in stdin")

	code, err = clitest.Exec(NewCmdRun(env.F, nil), "--each", "/nonexistent/file", "--", "echo")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, "--each: open /nonexistent/file")
}

func TestRunArray(t *testing.T) {
	t.Parallel()
	env := server.Server(t).Env(t, false)
	code, err := clitest.Exec(NewCmdRun(env.F, nil), "--array", "1-5:2", "--", "echo")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Len(t, clitest.Lines(env.Out.String()), 3)
	require.Equal(t, fmt.Sprintf("job %[1]d: 3 tasks\njob %[1]d: 3 done, 0 failed, 0 running, 0 queued (3 tasks, 0s elapsed)\n3 succeeded, 0 failed\n",
		submittedID(t, env.ErrOut.String())), settled(env.ErrOut.String()))
}

func TestExitCode(t *testing.T) {
	t.Parallel()
	require.Equal(t, 0, ExitCode(&job.Task{State: job.Done, Info: job.Info{ExitCode: intp(0)}}))
	require.Equal(t, 42, ExitCode(&job.Task{State: job.Failed, Info: job.Info{ExitCode: intp(42)}}))
	require.Equal(t, 143, ExitCode(&job.Task{State: job.Failed, Info: job.Info{Signal: "SIGTERM"}}))
	require.Equal(t, 130, ExitCode(&job.Task{State: job.Failed, Info: job.Info{Signal: "INT"}}))
	require.Equal(t, 1, ExitCode(&job.Task{State: job.Failed, Info: job.Info{Signal: "SIGNOPE"}}))
	require.Equal(t, 1, ExitCode(&job.Task{State: job.Failed}))
}

func TestRunRefusedFieldsNameTheFlag(t *testing.T) {
	t.Parallel()
	s := server.Server(t)
	id := s.Submit(t, job.Spec{Template: job.Template{Command: "true"}})
	env := s.Env(t, false)
	code, err := clitest.Exec(NewCmdRun(env.F, nil), "-d", "--after", fmt.Sprintf("%d,999", id), "--", "true")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.EqualError(t, err, "--after: no job 999")
}
