package receive

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/internal/cli/cmdutil"
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

func setup(t *testing.T) (*clitest.API, string) {
	api, url := clitest.NewAPI(t)
	api.Add(&job.Job{Spec: job.Spec{Array: &job.Array{Begin: 1, End: 2, Step: 1}}},
		&job.Task{Index: 1, State: job.Done}, &job.Task{Index: 2, State: job.Running})
	api.Received[1] = []api.Received{
		{Ref: "1.1", State: job.Done, Stdout: "one\n", Stderr: "warn\n", Results: []json.RawMessage{json.RawMessage(`{"a": 1,
 "b": [1, 2]}`), json.RawMessage(`"s"`)}},
		{Ref: "1.2", State: job.Running, Stdout: "two\n"},
	}
	return api, url
}

func TestReceive(t *testing.T) {
	t.Parallel()
	api, url := setup(t)
	env := clitest.NewEnv(t, url, false)
	code, err := clitest.Exec(NewCmdReceive(env.F, nil), "1", "9")
	require.Equal(t, cmdutil.ExitUsage, code, "only failure: unknown job 9 (%v)", err)
	require.Equal(t, "one\n{\"a\":1,\"b\":[1,2]}\n\"s\"\ntwo\n", env.Out.String())
	require.Equal(t, "warn\n9: no job 9\n", env.ErrOut.String())
	require.Empty(t, api.Received, "marks moved")
}

func TestReceiveTerminalKeep(t *testing.T) {
	t.Parallel()
	api, url := setup(t)
	env := clitest.NewEnv(t, url, true)
	_, err := clitest.Exec(NewCmdReceive(env.F, nil), "--keep", "1")
	require.NoError(t, err)
	require.Equal(t, "one\n── results of 1.1 (Done) ──\n{\"a\":1,\"b\":[1,2]}\n\"s\"\ntwo\n", env.Out.String())
	require.Len(t, api.Received[1], 2, "marks kept")
}

func TestReceiveJSON(t *testing.T) {
	t.Parallel()
	_, url := setup(t)
	env := clitest.NewEnv(t, url, false)
	_, err := clitest.Exec(NewCmdReceive(env.F, nil), "--json", "1")
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

func setupBinary(t *testing.T) string {
	api, url := clitest.NewAPI(t)
	api.Add(&job.Job{Spec: job.Spec{Name: "png", Inputs: []string{"a.png"}}}, &job.Task{Index: 1, State: job.Done, Info: job.Info{Input: "a.png"}})
	api.Received[1] = []api.Received{{
		Ref: "1.1", Name: "png", Input: "a.png", State: job.Done,
		Stdout: strings.ToValidUTF8(string(binary), "\uFFFD"), StdoutBase64: base64.StdEncoding.EncodeToString(binary),
		Stderr: "\uFFFD", StderrBase64: base64.StdEncoding.EncodeToString([]byte{0xfe}),
	}}
	return url
}

func TestReceiveBinary(t *testing.T) {
	t.Parallel()
	for _, tty := range []bool{false, true} {
		env := clitest.NewEnv(t, setupBinary(t), tty)
		_, err := clitest.Exec(NewCmdReceive(env.F, nil), "1")
		require.NoError(t, err)
		require.Equal(t, binary, env.Out.Bytes(), "tty=%v: byte for byte", tty)
		require.Equal(t, []byte{0xfe}, env.ErrOut.Bytes())
	}
}

func TestReceiveJSONNameInputBinary(t *testing.T) {
	t.Parallel()
	env := clitest.NewEnv(t, setupBinary(t), false)
	_, err := clitest.Exec(NewCmdReceive(env.F, nil), "--json", "1")
	require.NoError(t, err)
	require.Equal(t, `{
  "tasks": [
    {
      "ref": "1.1",
      "name": "png",
      "input": "a.png",
      "state": "Done",
      "stdout": "�PNG\u0000�\n",
      "stdout_base64": "iVBORwD/Cg==",
      "stderr": "�",
      "stderr_base64": "/g==",
      "results": null
    }
  ]
}
`, env.Out.String())
}
