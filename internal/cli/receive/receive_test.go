package receive

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
)

func TestNewCmdReceiveArgs(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, "http://unused:1", false)
	var got *Options
	_, err := clitest.Exec(NewCmdReceive(env.F, func(_ context.Context, o *Options) error { got = o; return nil }), "1", "2.3", "--keep")
	require.NoError(t, err)
	require.Equal(t, []job.Ref{{Job: 1}, {Job: 2, Index: 3, HasIndex: true}}, got.Refs)
	require.True(t, got.Keep)
}

// server holds, for each of jobs 1 to 3, an array whose task 1 ended with
// output and results and whose task 2 runs with output; and job 4, whose
// task wrote bytes that are not UTF-8.
var server = clitest.Share(clitest.Options{NoWorker: true, Seed: seed})

func seed(f *clitest.Fixtures) {
	code := 0
	for range 3 {
		id := f.Job(job.Spec{Array: &job.Array{Begin: 1, End: 2, Step: 1}, Template: job.Template{Command: "true"}}, clitest.Now)
		f.Set(clitest.Now, &job.Task{JobID: id, Index: 1, State: job.Done, SubState: job.ExitCode(0), Info: job.Info{Attempt: 1, ExitCode: &code}},
			&job.Task{JobID: id, Index: 2, State: job.Running, Info: job.Info{Attempt: 1, Worker: "w9"}})
		f.Output(id, 1, datadir.StdoutFile, "one\n")
		f.Output(id, 1, datadir.StderrFile, "warn\n")
		f.Output(id, 1, datadir.ResultFile, `{"a": 1, "b": [1, 2]}`+"\ns\n")
		f.Output(id, 2, datadir.StdoutFile, "two\n")
	}
	id := f.Job(job.Spec{Name: "png", Inputs: []string{"a.png"}, Template: job.Template{Command: "true"}}, clitest.Now)
	f.Set(clitest.Now, &job.Task{JobID: id, Index: 1, State: job.Done, SubState: job.ExitCode(0), Info: job.Info{Input: "a.png", Attempt: 1, ExitCode: &code}})
	f.Output(id, 1, datadir.StdoutFile, string(binary))
	f.Output(id, 1, datadir.StderrFile, "\xfe")
}

func TestMain(m *testing.M) { clitest.Main(m) }

// TestReceive moves the marks: a server of its own, so that it can run
// again (-count).
func TestReceive(t *testing.T) {
	t.Parallel()
	s := clitest.StartServer(t, clitest.Options{NoWorker: true, Seed: seed})
	env := s.Env(t, false)
	code, err := clitest.Exec(NewCmdReceive(env.F, nil), "1", "999")
	require.Equal(t, cmdutil.ExitUsage, code, "only failure: unknown job 999 (%v)", err)
	require.Equal(t, "one\n{\"a\":1,\"b\":[1,2]}\n\"s\"\ntwo\n", env.Out.String())
	require.Equal(t, "warn\n999: no job 999\n", env.ErrOut.String())

	env = s.Env(t, false)
	_, err = clitest.Exec(NewCmdReceive(env.F, nil), "1")
	require.NoError(t, err)
	require.Empty(t, env.Out.String(), "marks moved")
}

func TestReceiveTerminalKeep(t *testing.T) {
	t.Parallel()
	s := server.Server(t)
	for range 2 {
		env := s.Env(t, true)
		_, err := clitest.Exec(NewCmdReceive(env.F, nil), "--keep", "2")
		require.NoError(t, err)
		require.Equal(t, "one\n── results of 2.1 (Done) ──\n{\"a\":1,\"b\":[1,2]}\n\"s\"\ntwo\n", env.Out.String(), "marks kept")
	}
}

func TestReceiveJSON(t *testing.T) {
	t.Parallel()
	env := server.Server(t).Env(t, false)
	_, err := clitest.Exec(NewCmdReceive(env.F, nil), "--json", "--keep", "3")
	require.NoError(t, err)
	var got struct {
		Tasks []api.Received `json:"tasks"`
	}
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &got))
	require.Len(t, got.Tasks, 2)
	require.Equal(t, "warn\n", got.Tasks[0].Stderr)
	require.Empty(t, env.ErrOut.String())
}

// binary is output that is not UTF-8: the API sends it replaced and in base64.
var binary = []byte{0x89, 'P', 'N', 'G', 0, 0xff, '\n'}

func TestReceiveBinary(t *testing.T) {
	t.Parallel()
	for _, tty := range []bool{false, true} {
		env := server.Server(t).Env(t, tty)
		_, err := clitest.Exec(NewCmdReceive(env.F, nil), "--keep", "4")
		require.NoError(t, err)
		require.Equal(t, binary, env.Out.Bytes(), "tty=%v: byte for byte", tty)
		require.Equal(t, []byte{0xfe}, env.ErrOut.Bytes())
	}
}

func TestReceiveJSONNameInputBinary(t *testing.T) {
	t.Parallel()
	env := server.Server(t).Env(t, false)
	_, err := clitest.Exec(NewCmdReceive(env.F, nil), "--json", "--keep", "4")
	require.NoError(t, err)
	require.Equal(t, `{
  "tasks": [
    {
      "ref": "4.1",
      "name": "png",
      "input": "a.png",
      "state": "Done",
      "substate": {
        "kind": "EXIT_CODE",
        "value": "0"
      },
      "exit_code": 0,
      "stdout": "�PNG\u0000�\n",
      "stdout_base64": "iVBORwD/Cg==",
      "stderr": "�",
      "stderr_base64": "/g==",
      "results": []
    }
  ]
}
`, env.Out.String())
}
