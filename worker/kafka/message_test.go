package kafka

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestParseMessage(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in  string
		want      *Message
		malformed bool
	}{
		{"full", `{"jobId": "7f000001-863c-17b2-8186-3cdeb62e0000", "script": "Console.WriteLine(1);", "jobConfig": {"nugetConfigXml": "<configuration/>"}}`,
			&Message{JobID: "7f000001-863c-17b2-8186-3cdeb62e0000", Script: "Console.WriteLine(1);", JobConfig: map[string]string{"nugetConfigXml": "<configuration/>"}}, false},
		{"no jobConfig", `{"jobId": "00000000-0000-0000-0000-00000000000a", "script": "x"}`, &Message{JobID: "00000000-0000-0000-0000-00000000000a", Script: "x"}, false},
		{"null jobConfig", `{"jobId": "00000000-0000-0000-0000-00000000000a", "script": "x", "jobConfig": null}`, &Message{JobID: "00000000-0000-0000-0000-00000000000a", Script: "x"}, false},
		{"unknown fields ignored", `{"jobId": "00000000-0000-0000-0000-00000000000a", "script": "x", "priority": 3, "jobConfig": {"other": "y", "n": 1, "nugetConfigXml": null}}`,
			&Message{JobID: "00000000-0000-0000-0000-00000000000a", Script: "x", JobConfig: map[string]string{"other": "y"}}, false},
		{"no script", `{"jobId": "00000000-0000-0000-0000-00000000000a"}`, &Message{JobID: "00000000-0000-0000-0000-00000000000a", Reject: "script: missing or not a string"}, false},
		{"null script", `{"jobId": "00000000-0000-0000-0000-00000000000a", "script": null}`, &Message{JobID: "00000000-0000-0000-0000-00000000000a", Reject: "script: missing or not a string"}, false},
		{"blank script", `{"jobId": "00000000-0000-0000-0000-00000000000a", "script": " \n"}`, &Message{JobID: "00000000-0000-0000-0000-00000000000a", Reject: "script: blank"}, false},
		{"script not a string", `{"jobId": "00000000-0000-0000-0000-00000000000a", "script": 5}`, &Message{JobID: "00000000-0000-0000-0000-00000000000a", Reject: "script: missing or not a string"}, false},
		{"jobConfig not an object", `{"jobId": "00000000-0000-0000-0000-00000000000a", "script": "x", "jobConfig": "y"}`, &Message{JobID: "00000000-0000-0000-0000-00000000000a", Script: "x", Reject: "jobConfig: not a JSON object"}, false},
		{"upper-case UUID written lower", `{"jobId": "7F000001-863C-17B2-8186-3CDEB62E0000", "script": "x"}`,
			&Message{JobID: "7f000001-863c-17b2-8186-3cdeb62e0000", Script: "x"}, false},
		{"jobId not a UUID", `{"jobId": "job-1", "script": "x"}`, &Message{JobID: "job-1", Script: "x", Reject: "jobId: not a UUID"}, false},
		{"UUID without dashes", `{"jobId": "7f000001863c17b281863cdeb62e0000"}`,
			&Message{JobID: "7f000001863c17b281863cdeb62e0000", Reject: "jobId: not a UUID"}, false},
		{"UUID in braces", `{"jobId": "{7f000001-863c-17b2-8186-3cdeb62e0000}", "script": "x"}`,
			&Message{JobID: "{7f000001-863c-17b2-8186-3cdeb62e0000}", Script: "x", Reject: "jobId: not a UUID"}, false},
		{"names match exactly", `{"JOBID": "a", "script": "x"}`, nil, true},
		{"not JSON", `hello`, nil, true},
		{"empty", ``, nil, true},
		{"array", `["jobId"]`, nil, true},
		{"null", `null`, nil, true},
		{"no jobId", `{"script": "x"}`, nil, true},
		{"null jobId", `{"jobId": null, "script": "x"}`, nil, true},
		{"number jobId", `{"jobId": 5, "script": "x"}`, nil, true},
		{"blank jobId", `{"jobId": "  ", "script": "x"}`, nil, true},
		{"long jobId", `{"jobId": "` + strings.Repeat("a", MaxJobIDBytes+1) + `", "script": "x"}`, nil, true},
		{"trailing garbage", `{"jobId": "00000000-0000-0000-0000-00000000000a", "script": "x"} {}`, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := ParseMessage([]byte(tc.in))
			if tc.malformed {
				require.ErrorIs(t, err, ErrMalformed)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, m)
		})
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, s := range []string{
		`{"jobId": "00000000-0000-0000-0000-00000000000a", "script": "x", "jobConfig": {"nugetConfigXml": "<x/>"}}`,
		`{"jobId": "00000000-0000-0000-0000-00000000000a"}`, `{"jobId": 1}`, `[]`, `null`, `{"jobId": "\u00e9", "script": "\ud800"}`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := ParseMessage(in)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error not wrapping ErrMalformed: %v", err)
			}
			return
		}
		if strings.TrimSpace(m.JobID) == "" || len(m.JobID) > MaxJobIDBytes {
			t.Fatalf("bad jobId accepted: %q", m.JobID)
		}
		if (m.Reject == "") == (strings.TrimSpace(m.Script) == "") && m.Reject == "" {
			t.Fatalf("blank script not rejected: %+v", m)
		}
		if u, ok := canonicalUUID(m.JobID); m.Reject == "" && (!ok || u != m.JobID) {
			t.Fatalf("jobId %q accepted, not a lower-case UUID", m.JobID)
		}
		// Every answer encodes to valid JSON that carries the jobId back.
		for _, f := range []*Finished{
			{JobID: m.JobID, Status: StatusRejected},
			{JobID: m.JobID, Status: StatusAccepted, ScriptResults: &ScriptResults{FinishedWith: FinishedSucceeded, Stdout: m.Script, Stderr: m.JobConfig["nugetConfigXml"]}},
		} {
			b := encodeFinished(f, 3*MaxJobIDBytes)
			var back Finished
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("finished message is not JSON: %v: %s", err, b)
			}
			if back.JobID != strings.ToValidUTF8(m.JobID, "\uFFFD") {
				t.Fatalf("jobId %q came back as %q", m.JobID, back.JobID)
			}
		}
	})
}

func TestFinishedFormat(t *testing.T) {
	t.Parallel()
	b := encodeFinished(&Finished{JobID: "j", Status: StatusAccepted, ScriptResults: &ScriptResults{
		FinishedWith: FinishedSucceeded, Stdout: "<a>&\n", Stderr: ""}}, 0)
	require.Equal(t, `{"jobId":"j","status":"ACCEPTED","scriptResults":{"finishedWith":"SUCCEEDED","stdout":"<a>&\n","stderr":""}}`, string(b))
	b = encodeFinished(&Finished{JobID: "j", Status: StatusRejected}, 0)
	require.Equal(t, `{"jobId":"j","status":"REJECTED"}`, string(b))
	require.Equal(t, `{"jobId":"j"}`, string(marshal(Running{JobID: "j"})))
}

// TestEncodeFinishedFits cuts outputs to fit the message size: the longer
// one first, at a UTF-8 boundary, with a note.
func TestEncodeFinishedFits(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name           string
		stdout, stderr string
		limit          int
	}{
		{"stdout long", strings.Repeat("a", 10000), "err", 2000},
		{"both long", strings.Repeat("a", 10000), strings.Repeat("b", 8000), 3000},
		{"multibyte", strings.Repeat("é€😀", 3000), "", 2000},
		{"escapes", strings.Repeat("\x01\"<", 5000), strings.Repeat("\\", 5000), 2500},
		{"invalid UTF-8", strings.Repeat("\xff", 5000), "", 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &Finished{JobID: "job", Status: StatusAccepted, ScriptResults: &ScriptResults{
				FinishedWith: FinishedFailed, Stdout: tc.stdout, Stderr: tc.stderr}}
			b := encodeFinished(f, tc.limit)
			require.LessOrEqual(t, len(b), tc.limit)
			var back Finished
			require.NoError(t, json.Unmarshal(b, &back))
			require.Equal(t, FinishedFailed, back.ScriptResults.FinishedWith)
			require.Contains(t, back.ScriptResults.Stdout, "to fit the message]")
			require.True(t, utf8.ValidString(back.ScriptResults.Stdout))
			require.Equal(t, tc.stdout, f.ScriptResults.Stdout, "the input is left alone")
			if len(tc.stderr) < 10 {
				require.Equal(t, tc.stderr, back.ScriptResults.Stderr, "the short stream is kept whole")
			}
		})
	}
	// A message that fits is not touched.
	f := &Finished{JobID: "job", Status: StatusAccepted, ScriptResults: &ScriptResults{FinishedWith: FinishedSucceeded, Stdout: "ok"}}
	require.Equal(t, marshal(f), encodeFinished(f, 1000))
}
