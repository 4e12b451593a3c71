package run

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

// ended makes every submitted job end at once in state st with the task's
// exit code and signal.
func ended(st job.State, code *int, signal string) func(int64, job.Spec) (*job.Job, []*job.Task) {
	return func(id int64, spec job.Spec) (*job.Job, []*job.Task) {
		var tasks []*job.Task
		for i := range spec.TaskIndexes {
			t := &job.Task{Index: i, State: st, Info: job.Info{ExitCode: code, Signal: signal}}
			if len(spec.Inputs) > 0 {
				t.Input = spec.Inputs[i-1]
				if strings.Contains(t.Input, "bad") {
					t.State, t.ExitCode, t.SubState = job.Failed, intp(2), job.ExitCode(2)
				}
			}
			start := clitest.Now.Add(-2 * time.Second)
			t.StartedAt, t.FinishedAt = &start, &clitest.Now
			tasks = append(tasks, t)
		}
		return &job.Job{SubmittedAt: clitest.Now}, tasks
	}
}

func TestRunForeground(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		state  job.State
		code   *int
		signal string
		want   int
		notice string
	}{
		{"done", job.Done, intp(0), "", 0, ""},
		{"exit code", job.Failed, intp(3), "", 3, ""},
		{"signal", job.Failed, nil, "SIGKILL", 137, "berth: job 1 failed: killed by SIGKILL"},
		{"no exit code", job.Failed, nil, "", 1, "berth: job 1 failed: time limit reached"},
		{"command not found", job.Failed, intp(127), "", 127, "berth: job 1 failed: could not start: nosuch: command not found\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			api, url := clitest.NewAPI(t)
			mk := ended(tc.state, tc.code, tc.signal)
			api.OnSubmit = func(id int64, spec job.Spec) (*job.Job, []*job.Task) {
				j, ts := mk(id, spec)
				switch {
				case tc.name == "command not found":
					ts[0].SubState, ts[0].Message = job.SubState{Kind: job.ReasonStartFailed}, "nosuch: command not found"
				case tc.signal != "":
					ts[0].SubState = job.Signal(tc.signal)
				case tc.code != nil:
					ts[0].SubState = job.ExitCode(*tc.code)
				default:
					ts[0].SubState = job.SubState{Kind: job.ReasonTimeLimit}
				}
				return j, ts
			}
			api.Logs["1"] = map[string]string{"stdout": "out line\n", "stderr": "err line\n"}
			env := clitest.NewEnv(t, url, false)
			code, err := clitest.Exec(NewCmdRun(env.F, nil), "--", "sh", "-c", "x")
			require.Equal(t, tc.want, code, "err: %v", err)
			require.Equal(t, "out line\n", env.Out.String())
			require.Contains(t, env.ErrOut.String(), "err line\n")
			if tc.notice != "" {
				require.Contains(t, env.ErrOut.String(), tc.notice)
			}
			require.Equal(t, "sh", api.Submitted[0].Template.Command)
		})
	}
}

func TestRunInterrupt(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	api.OnSubmit = func(id int64, spec job.Spec) (*job.Job, []*job.Task) {
		return &job.Job{}, []*job.Task{{State: job.Running}}
	}
	api.Logs["1"] = map[string]string{"stdout": "working\n"}
	env := clitest.NewEnv(t, url, false)
	sigs := make(chan os.Signal, 1)
	cmd := NewCmdRun(env.F, func(ctx context.Context, o *Options) error {
		o.Signals = func() (<-chan os.Signal, func()) { return sigs, func() {} }
		// Interrupt once the job runs and its output is flowing.
		go func() {
			for {
				api.Lock()
				n := len(api.Requests)
				api.Unlock()
				if n >= 4 { // submit, two logs, wait
					sigs <- os.Interrupt
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		}()
		return run(ctx, o)
	})
	code, err := clitest.Exec(cmd, "--", "sleep", "100")
	require.Equal(t, cmdutil.ExitInterrupted, code, "err: %v", err)
	require.Equal(t, []string{"1 terminate"}, api.Controls)
	require.Equal(t, "working\n", env.Out.String())
	require.Contains(t, env.ErrOut.String(), "stopping job 1")
}

func TestRunDetach(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	env := clitest.NewEnv(t, url, false)
	code, err := clitest.Exec(NewCmdRun(env.F, nil), "-d", "--label", "a=b", "--", "true")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, "1\n", env.Out.String())
	require.Equal(t, map[string]string{"a": "b"}, api.Submitted[0].Labels)

	env = clitest.NewEnv(t, url, false)
	_, err = clitest.Exec(NewCmdRun(env.F, nil), "-d", "--json", "--", "true")
	require.NoError(t, err)
	var j job.Job
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &j))
	require.Equal(t, int64(2), j.ID)
	require.Equal(t, job.Queued, j.State)
}

func TestRunEach(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	api.OnSubmit = ended(job.Done, intp(0), "")
	// The failure's stderr: the summary shows its last 5 lines.
	api.Logs["1.2"] = map[string]string{"stderr": "one\ntwo\n\nthree\nfour\nfive\nflac: bad.wav: not a WAV file\n"}
	env := clitest.NewEnv(t, url, false)
	env.In.WriteString("a.wav\n\n  \nbad.wav\r\nc.wav")
	code, err := clitest.Exec(NewCmdRun(env.F, nil), "--each", "-", "--max-parallel", "2", "--", "flac", "{}")
	require.Equal(t, 1, code, "err: %v", err)
	require.Equal(t, []string{"a.wav", "bad.wav", "c.wav"}, api.Submitted[0].Inputs)
	require.Equal(t, 2, api.Submitted[0].MaxParallel)
	require.Equal(t, ""+
		"1\ta.wav\tDone\t0\t2s\n"+
		"2\tbad.wav\tFailed\t2\t2s\n"+
		"3\tc.wav\tDone\t0\t2s\n", env.Out.String())
	require.Equal(t, ""+
		"job 1: 3 tasks\n"+
		"task 1.2 (bad.wav) failed: exit code 2\n"+
		"  | two\n"+
		"  | three\n"+
		"  | four\n"+
		"  | five\n"+
		"  | flac: bad.wav: not a WAV file\n"+
		"2 succeeded, 1 failed\n", env.ErrOut.String())
}

func TestRunEachFileTerminalAndJSON(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	api.OnSubmit = ended(job.Done, intp(0), "")
	file := filepath.Join(t.TempDir(), "inputs")
	require.NoError(t, os.WriteFile(file, []byte("x\ny\n"), 0o600))

	env := clitest.NewEnv(t, url, true)
	cmd := NewCmdRun(env.F, func(ctx context.Context, o *Options) error {
		o.progressEvery = 0 // no redraws for the clock alone
		return run(ctx, o)
	})
	code, err := clitest.Exec(cmd, "--each", file, "--", "echo", "{}")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Equal(t, ""+
		"INDEX  INPUT  STATE  EXIT  DURATION\n"+
		"1      x      Done   0     2s\n"+
		"2      y      Done   0     2s\n", env.Out.String())
	require.Equal(t, ""+
		"job 1: 2 tasks\n"+
		"\r\x1b[Kjob 1: 2 done, 0 failed, 0 running, 0 queued (2 tasks, 0s elapsed)\n"+
		"2 succeeded, 0 failed\n", env.ErrOut.String())

	env = clitest.NewEnv(t, url, false)
	_, err = clitest.Exec(NewCmdRun(env.F, nil), "--json", "--each", file, "--", "echo", "{}")
	require.NoError(t, err)
	var tasks []job.Task
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &tasks))
	require.Len(t, tasks, 2)
	require.Equal(t, "y", tasks[1].Input)
}

func TestRunEachErrors(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	env := clitest.NewEnv(t, url, false)
	env.In.WriteString("\n\n")
	code, err := clitest.Exec(NewCmdRun(env.F, nil), "--each", "-", "--", "echo")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, "--each: no input lines in stdin")

	code, err = clitest.Exec(NewCmdRun(env.F, nil), "--each", "/nonexistent/file", "--", "echo")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.ErrorContains(t, err, "--each: open /nonexistent/file")
	require.Empty(t, api.Submitted, "nothing reaches the server")
}

func TestRunArray(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	api.OnSubmit = ended(job.Done, intp(0), "")
	env := clitest.NewEnv(t, url, false)
	code, err := clitest.Exec(NewCmdRun(env.F, nil), "--array", "1-5:2", "--", "echo")
	require.NoError(t, err)
	require.Equal(t, 0, code)
	require.Len(t, clitest.Lines(env.Out.String()), 3)
	require.Equal(t, "job 1: 3 tasks\n3 succeeded, 0 failed\n", env.ErrOut.String())
}

// A large array is summed up by state, with its first failures, not
// listed task by task.
func TestRunArrayLarge(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	api.OnSubmit = ended(job.Failed, intp(3), "")
	env := clitest.NewEnv(t, url, false)
	code, err := clitest.Exec(NewCmdRun(env.F, nil), "--array", "1-250", "--", "false")
	require.Error(t, err)
	require.Equal(t, cmdutil.ExitFailure, code)
	require.Equal(t, "Failed\t250\n", env.Out.String())
	errOut := env.ErrOut.String()
	require.Contains(t, errOut, "job 1: 250 tasks\n")
	require.Contains(t, errOut, "task 1.1 failed: ")
	require.Contains(t, errOut, "task 1.10 failed: ")
	require.NotContains(t, errOut, "task 1.11 failed")
	require.Contains(t, errOut, "(240 more failed: berth show 1 --tasks)\n0 succeeded, 250 failed\n")
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
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error": {"code": "invalid", "message": "no job 999", "field": "after[1]"}}`)
	}))
	t.Cleanup(srv.Close)
	env := clitest.NewEnv(t, srv.URL, false)
	code, err := clitest.Exec(NewCmdRun(env.F, nil), "-d", "--after", "1,999", "--", "true")
	require.Equal(t, cmdutil.ExitUsage, code)
	require.EqualError(t, err, "--after: no job 999")
}
