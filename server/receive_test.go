package server

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

type receiveAnswer struct {
	Tasks []struct {
		Ref          string       `json:"ref"`
		Name         string       `json:"name"`
		Input        *string      `json:"input"`
		State        job.State    `json:"state"`
		SubState     job.SubState `json:"substate"`
		ExitCode     *int         `json:"exit_code"`
		Stdout       string       `json:"stdout"`
		StdoutBase64 *string      `json:"stdout_base64"`
		Stderr       string       `json:"stderr"`
		StderrBase64 *string      `json:"stderr_base64"`
		Results      []any        `json:"results"`
	} `json:"tasks"`
}

func TestReceive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"},"array":{"begin":1,"end":3,"step":1}}`)
	var r receiveAnswer
	b.doJSON(t, "POST", "/v1/jobs/1/receive", "", http.StatusOK, &r)
	require.NotNil(t, r.Tasks)
	require.Empty(t, r.Tasks)

	b.writeOutput(t, 1, 1, "stdout", "one\n")
	b.writeOutput(t, 1, 3, "stderr", "three err\n")
	b.writeOutput(t, 1, 3, "result.jsonl", "{\"x\":1}\n{\"x\":")

	// keep=true reads without moving the marks.
	for range 2 {
		b.doJSON(t, "POST", "/v1/jobs/1/receive?keep=true", "", http.StatusOK, &r)
		require.Len(t, r.Tasks, 2)
	}
	b.doJSON(t, "POST", "/v1/jobs/1/receive", "", http.StatusOK, &r)
	require.Len(t, r.Tasks, 2)
	require.Equal(t, "1.1", r.Tasks[0].Ref)
	require.Equal(t, "one\n", r.Tasks[0].Stdout)
	require.Empty(t, r.Tasks[0].Results)
	require.Equal(t, "1.3", r.Tasks[1].Ref)
	require.Equal(t, "three err\n", r.Tasks[1].Stderr)
	require.Equal(t, []any{map[string]any{"x": 1.0}}, r.Tasks[1].Results, "the partial line waits")
	var j job.Job
	b.doJSON(t, "GET", "/v1/jobs/1", "", http.StatusOK, &j)
	require.True(t, j.HasMoreData, "the partial result line is still to come")

	// Nothing new: nothing returned.
	b.doJSON(t, "POST", "/v1/jobs/1/receive", "", http.StatusOK, &r)
	require.Empty(t, r.Tasks)

	// Only what came since; the partial line once completed.
	b.writeOutput(t, 1, 1, "stdout", "two\n")
	b.writeOutput(t, 1, 3, "result.jsonl", "2}\n")
	b.doJSON(t, "POST", "/v1/jobs/1.3/receive", "", http.StatusOK, &r)
	require.Len(t, r.Tasks, 1)
	require.Equal(t, []any{map[string]any{"x": 2.0}}, r.Tasks[0].Results)
	require.Empty(t, r.Tasks[0].Stderr)

	b.sched.setState(t, 1, 1, job.Failed)
	b.doJSON(t, "POST", "/v1/jobs/1/receive", "", http.StatusOK, &r)
	require.Len(t, r.Tasks, 1)
	require.Equal(t, "two\n", r.Tasks[0].Stdout)
	require.Equal(t, job.Failed, r.Tasks[0].State)
	require.Equal(t, 1, *r.Tasks[0].ExitCode)

	// An ended task's last line counts without its newline.
	b.writeOutput(t, 1, 2, "result.jsonl", "7")
	b.sched.setState(t, 1, 2, job.Done)
	b.doJSON(t, "POST", "/v1/jobs/1/receive", "", http.StatusOK, &r)
	require.Len(t, r.Tasks, 1)
	require.Equal(t, []any{7.0}, r.Tasks[0].Results)

	b.requireError(t, "POST", "/v1/jobs/5/receive", "", http.StatusNotFound, "not_found", "", "no job 5")
	b.requireError(t, "POST", "/v1/jobs/1.9/receive", "", http.StatusNotFound, "not_found", "", "no task 1.9")
	b.requireError(t, "POST", "/v1/jobs/1/receive?keep=1x", "", http.StatusBadRequest, "invalid", "keep", "")
}

func TestReceiveUTF8AndBudget(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	var r receiveAnswer

	// A rune cut by the writer is kept for the next receive; invalid bytes
	// become U+FFFD.
	b.writeOutput(t, 1, 0, "stdout", "h\xffé"[:3])
	b.doJSON(t, "POST", "/v1/jobs/1/receive", "", http.StatusOK, &r)
	require.Equal(t, "h\uFFFD", r.Tasks[0].Stdout)
	require.Equal(t, base64.StdEncoding.EncodeToString([]byte("h\xff")), *r.Tasks[0].StdoutBase64, "the exact bytes beside the text")
	require.Nil(t, r.Tasks[0].StderrBase64)
	b.writeOutput(t, 1, 0, "stdout", "é"[1:])
	b.writeOutput(t, 1, 0, "stderr", "\x00\x01\xfe")
	r = receiveAnswer{}
	b.doJSON(t, "POST", "/v1/jobs/1/receive", "", http.StatusOK, &r)
	require.Equal(t, "é", r.Tasks[0].Stdout)
	require.Nil(t, r.Tasks[0].StdoutBase64, "valid text: no base64")
	require.Equal(t, "\x00\x01\uFFFD", r.Tasks[0].Stderr)
	require.Equal(t, base64.StdEncoding.EncodeToString([]byte("\x00\x01\xfe")), *r.Tasks[0].StderrBase64)

	// More than the budget comes in two calls.
	b.srv.receiveBudget = 1000
	big := strings.Repeat("a", 990) + "\n"
	b.writeOutput(t, 1, 0, "stdout", big)
	b.writeOutput(t, 1, 0, "stderr", strings.Repeat("b", 100))
	b.doJSON(t, "POST", "/v1/jobs/1/receive", "", http.StatusOK, &r)
	require.Len(t, r.Tasks[0].Stdout, len(big))
	require.Len(t, r.Tasks[0].Stderr, 9)
	b.doJSON(t, "POST", "/v1/jobs/1/receive", "", http.StatusOK, &r)
	require.Empty(t, r.Tasks[0].Stdout)
	require.Len(t, r.Tasks[0].Stderr, 91)

	// Results stop at a line that would pass the budget, but one line
	// larger than the budget still comes when it is first.
	b.writeOutput(t, 1, 0, "result.jsonl", `"`+strings.Repeat("r", 600)+"\"\n"+`"`+strings.Repeat("s", 600)+"\"\n"+`"`+strings.Repeat("t", 2000)+"\"\n")
	for _, want := range []int{1, 1, 1, 0} {
		b.doJSON(t, "POST", "/v1/jobs/1/receive", "", http.StatusOK, &r)
		if want == 0 {
			require.Empty(t, r.Tasks)
			continue
		}
		require.Len(t, r.Tasks[0].Results, want)
	}
}

func TestReceiveNameAndInput(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"name":"hosts","template":{"command":"x"},"inputs":["alpha","b c"]}`)
	b.writeOutput(t, 1, 1, "stdout", "a\n")
	b.writeOutput(t, 1, 2, "stdout", "b\n")
	var r receiveAnswer
	b.doJSON(t, "POST", "/v1/jobs/1/receive", "", http.StatusOK, &r)
	require.Len(t, r.Tasks, 2)
	for i, in := range []string{"alpha", "b c"} {
		require.Equal(t, "hosts", r.Tasks[i].Name)
		require.Equal(t, in, *r.Tasks[i].Input)
	}

	// A job without inputs has no input field.
	b.submit(t, `{"template":{"command":"x"}}`)
	b.writeOutput(t, 2, 0, "stdout", "x")
	r = receiveAnswer{}
	b.doJSON(t, "POST", "/v1/jobs/2/receive", "", http.StatusOK, &r)
	require.Len(t, r.Tasks, 1)
	require.Nil(t, r.Tasks[0].Input)
	require.Empty(t, r.Tasks[0].Name)
}
