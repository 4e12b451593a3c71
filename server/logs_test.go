package server

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

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

	b.requireError(t, "GET", "/v1/tasks/1/logs?stream=stdin", "", http.StatusBadRequest, "invalid", "stream", "stdout or stderr")
	b.requireError(t, "GET", "/v1/tasks/1/logs?offset=-1", "", http.StatusBadRequest, "invalid", "offset", "")
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

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", b.ts.URL+"/v1/tasks/1.2/logs?follow=true", nil)
	require.NoError(t, err)
	resp, err := b.ts.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	rd := bufio.NewReader(resp.Body)

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
