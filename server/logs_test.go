package server

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"os"
	"path/filepath"

	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/internal/timeline"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

func TestLogs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	b.submit(t, `{"template":{"command":"x"},"array":{"begin":1,"end":2,"step":1}}`)

	// No file yet: empty.
	code, body := b.do(t, "GET", "/v1/tasks/1/logs", "")
	require.Equal(t, http.StatusOK, code)
	require.Empty(t, body)

	b.writeOutput(t, 1, 0, "stdout", "hello\nworld\n")
	b.writeOutput(t, 1, 0, "stderr", "oops\n")
	_, body = b.do(t, "GET", "/v1/tasks/1/logs", "")
	require.Equal(t, "hello\nworld\n", string(body))
	_, body = b.do(t, "GET", "/v1/tasks/1/logs?stream=stderr", "")
	require.Equal(t, "oops\n", string(body))
	_, body = b.do(t, "GET", "/v1/tasks/1/logs?offset=6", "")
	require.Equal(t, "world\n", string(body))
	_, body = b.do(t, "GET", "/v1/tasks/1/logs?offset=600", "")
	require.Empty(t, body)

	// Following an ended task sends the file and ends.
	b.sched.setState(t, 1, 0, job.Done)
	_, body = b.do(t, "GET", "/v1/tasks/1/logs?follow=true", "")
	require.Equal(t, "hello\nworld\n", string(body))

	b.requireError(t, "GET", "/v1/tasks/1/logs?stream=stdin", "", http.StatusBadRequest, "invalid", "stream", "stdout, stderr or both")
	b.requireError(t, "GET", "/v1/tasks/1/logs?offset=-1", "", http.StatusBadRequest, "invalid", "offset", "")
	b.requireError(t, "GET", "/v1/tasks/1/logs?since=10m", "", http.StatusBadRequest, "invalid", "since", "RFC 3339")
	// Output without a timeline (an older berth's) is served as before;
	// its times cannot be.
	_, body = b.do(t, "GET", "/v1/tasks/1/logs?stream=both", "")
	require.Equal(t, "hello\nworld\noops\n", string(body))
	b.requireError(t, "GET", "/v1/tasks/1/logs?stream=both&timestamps=true", "", http.StatusBadRequest, "invalid", "timestamps", "no arrival times")
	b.requireError(t, "GET", "/v1/tasks/1/logs?since=2026-01-02T15:04:05Z", "", http.StatusBadRequest, "invalid", "since", "no arrival times")
	b.requireError(t, "GET", "/v1/tasks/1/logs?follow=yes", "", http.StatusBadRequest, "invalid", "follow", "")
	b.requireError(t, "GET", "/v1/tasks/2/logs", "", http.StatusBadRequest, "invalid", "ref", "job 2 is an array; name a task as 2.INDEX")
	b.requireError(t, "GET", "/v1/tasks/9/logs", "", http.StatusNotFound, "not_found", "", "no job 9")
	b.requireError(t, "GET", "/v1/tasks/2.5/logs?follow=true", "", http.StatusNotFound, "not_found", "", "no task 2.5")
}

// TestLogsFollow follows a queued task whose file does not exist yet: the
// stream delivers what is written after the request began, and ends when the
// scheduler reports the task's end.
func TestLogsFollow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"},"array":{"begin":1,"end":2,"step":1}}`)

	rd := b.followLogs(t, "/v1/tasks/1.2/logs?follow=true")

	b.sched.setState(t, 1, 2, job.Running)
	b.writeOutput(t, 1, 2, "stdout", "first\n")
	line, err := rd.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "first\n", line)

	b.writeOutput(t, 1, 2, "stdout", "second\n")
	line, err = rd.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "second\n", line)

	// The end of another task does not end the stream.
	b.sched.setState(t, 1, 1, job.Done)
	// Output written just before the end is sent before the stream ends.
	b.writeOutput(t, 1, 2, "stdout", "last")
	b.sched.setState(t, 1, 2, job.Done)
	rest, err := io.ReadAll(rd)
	require.NoError(t, err)
	require.Equal(t, "last", string(rest))
	require.Eventually(t, func() bool { return b.sched.subscribers() == 0 }, 5*time.Second, 10*time.Millisecond)
}

// TestLogsFollowClientGone checks that a follower that goes away releases
// its subscription.
func TestLogsFollowClientGone(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", b.ts.URL+"/v1/tasks/1/logs?follow=true&stream=stderr", nil)
	require.NoError(t, err)
	resp, err := b.ts.Client().Do(req)
	require.NoError(t, err)
	require.Equal(t, 1, b.sched.subscribers())
	cancel()
	resp.Body.Close()
	require.Eventually(t, func() bool { return b.sched.subscribers() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestResults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	b.doJSON(t, "GET", "/v1/tasks/1/results", "", http.StatusOK, nil)
	_, body := b.do(t, "GET", "/v1/tasks/1/results", "")
	require.JSONEq(t, `{"results":[]}`, string(body))

	b.writeOutput(t, 1, 0, "result.jsonl", "{\"a\":1}\n\n42\nnot json\n[1,2]\n{\"partial\":")
	_, body = b.do(t, "GET", "/v1/tasks/1/results", "")
	require.JSONEq(t, `{"results":[{"a":1},42,"not json",[1,2]]}`, string(body))
	// Once the task has ended the last line counts even without its newline.
	b.sched.setState(t, 1, 0, job.Failed)
	_, body = b.do(t, "GET", "/v1/tasks/1/results", "")
	require.JSONEq(t, `{"results":[{"a":1},42,"not json",[1,2],"{\"partial\":"]}`, string(body))

	b.requireError(t, "GET", "/v1/tasks/8/results", "", http.StatusNotFound, "not_found", "", "no job 8")
}

// timedOutput writes a task's output as a worker does: each piece, then its
// record in the timeline, at the time given.
type timedOutput struct {
	b     *testBundle
	id    int64
	index int
	tl    *timeline.Writer
}

func newTimedOutput(t *testing.T, b *testBundle, id int64, index int) *timedOutput {
	t.Helper()
	path := b.dir.TaskFile(id, index, datadir.TimesFile)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	tl, err := timeline.New(path, false)
	require.NoError(t, err)
	require.NoError(t, tl.Open()) // as a worker does, before the output files
	t.Cleanup(func() { tl.Close() })
	return &timedOutput{b: b, id: id, index: index, tl: tl}
}

func (o *timedOutput) write(t *testing.T, file int, data string, at time.Time) {
	t.Helper()
	name := []string{"stdout", "stderr"}[file]
	o.b.writeOutput(t, o.id, o.index, name, data)
	require.NoError(t, o.tl.RecordAt(file, len(data), at))
}

func TestLogsTimeline(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	o := newTimedOutput(t, b, 1, 0)
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	o.write(t, timeline.Stdout, "one\ntw", at(1))
	o.write(t, timeline.Stderr, "err1\n", at(2))
	o.write(t, timeline.Stdout, "o\nthree\n", at(3))
	o.write(t, timeline.Stderr, "err2\n\x00\xff", at(4))
	o.write(t, timeline.Stdout, "unfinished", at(5))

	get := func(query string) string {
		t.Helper()
		code, body := b.do(t, "GET", "/v1/tasks/1/logs?"+query, "")
		require.Equal(t, http.StatusOK, code, "%s", body)
		return string(body)
	}
	// Running: lines in the order their newlines arrived; unfinished
	// lines wait.
	require.Equal(t, "one\nerr1\ntwo\nthree\nerr2\n", get("stream=both"))
	require.Equal(t, "one\ntwo\nthree\n", get("stream=stdout&timestamps=false&since=2000-01-01T00:00:00Z"))
	require.Equal(t, "2026-12-07T10:00:01.000000000Z one\n2026-12-07T10:00:02.000000000Z err1\n2026-12-07T10:00:03.000000000Z two\n2026-12-07T10:00:03.000000000Z three\n2026-12-07T10:00:04.000000000Z err2\n",
		get("stream=both&timestamps=true&since="+at(1).Format(time.RFC3339)))
	require.Equal(t, "two\nthree\nerr2\n", get("stream=both&since="+at(3).Format(time.RFC3339)))
	require.Equal(t, "err1\nerr2\n", get("stream=stderr&since="+at(0).Format(time.RFC3339)))
	// The offset counts bytes of the answer.
	require.Equal(t, "two\nthree\nerr2\n", get("stream=both&offset=9"))

	// Ended: the unfinished lines too, stdout's first; the raw stream is
	// untouched.
	b.sched.setState(t, 1, 0, job.Done)
	require.Equal(t, "one\nerr1\ntwo\nthree\nerr2\nunfinished\x00\xff", get("stream=both"))
	require.Equal(t, "2026-12-07T10:00:04.000000000Z err2\n2026-12-07T10:00:05.000000000Z unfinished2026-12-07T10:00:04.000000000Z \x00\xff",
		get("stream=both&timestamps=true&since="+at(4).Format(time.RFC3339)))
	require.Equal(t, "unfinished2026-12-07T10:00:04.000000000Z \x00\xff",
		get("stream=both&timestamps=true&since="+at(4).Format(time.RFC3339)+"&offset=67"))
	require.Equal(t, "one\ntwo\nthree\nunfinished", get("stream=stdout"))
	require.Equal(t, "err1\nerr2\n\x00\xff", get("stream=stderr"))
}

// TestLogsTimelineFollow follows both streams: a record that points past
// what the file holds (a remote worker ships the timeline first) waits for
// its bytes.
func TestLogsTimelineFollow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	b.sched.setState(t, 1, 0, job.Running)

	rd := b.followLogs(t, "/v1/tasks/1/logs?follow=true&stream=both&timestamps=true")

	o := newTimedOutput(t, b, 1, 0)
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	o.write(t, timeline.Stderr, "first\n", t0)
	line, err := rd.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "2026-12-07T10:00:00.000000000Z first\n", line)

	require.NoError(t, o.tl.RecordAt(timeline.Stdout, len("second\n"), t0.Add(time.Second)))
	b.writeOutput(t, 1, 0, "stdout", "second\n")
	line, err = rd.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "2026-12-07T10:00:01.000000000Z second\n", line)

	o.write(t, timeline.Stdout, "last", t0.Add(2*time.Second))
	b.sched.setState(t, 1, 0, job.Done)
	rest, err := io.ReadAll(rd)
	require.NoError(t, err)
	require.Equal(t, "2026-12-07T10:00:02.000000000Z last", string(rest))
}

// followLogs opens a followed logs stream of path, closed at the test's end
// (or after 10 s).
func (b *testBundle) followLogs(t *testing.T, path string) *bufio.Reader {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", b.ts.URL+path, nil)
	require.NoError(t, err)
	resp, err := b.ts.Client().Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return bufio.NewReader(resp.Body)
}
