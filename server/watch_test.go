package server

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

// inotifyInstances counts this process's inotify file descriptors.
func inotifyInstances(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	require.NoError(t, err)
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && l == "anon_inode:inotify" {
			n++
		}
	}
	return n
}

// TestLogsThousandFollowers follows one task's output with 1,000 requests
// at once through the server's handler, from before its file exists to its
// end: all share one inotify instance (a process gets 128 by default), and
// every one gets the whole output. Not parallel, to count the instances.
func TestLogsThousandFollowers(t *testing.T) {
	const followers = 1000
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr := &http.Transport{MaxIdleConnsPerHost: followers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	var wg sync.WaitGroup
	first := make(chan error, followers)
	bodies := make(chan string, followers)
	for range followers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, "GET", b.ts.URL+"/v1/tasks/1/logs?follow=true", nil)
			resp, err := client.Do(req)
			if err != nil {
				first <- err
				return
			}
			defer resp.Body.Close()
			rd := bufio.NewReader(resp.Body)
			line, err := rd.ReadString('\n')
			if err == nil && resp.StatusCode != http.StatusOK {
				err = io.ErrUnexpectedEOF
			}
			first <- err
			rest, _ := io.ReadAll(rd)
			bodies <- line + string(rest)
		}()
	}
	require.Eventually(t, func() bool { return b.sched.subscribers() == followers }, 30*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, inotifyInstances(t), "the followers share one inotify instance")

	b.sched.setState(t, 1, 0, job.Running)
	b.writeOutput(t, 1, 0, "stdout", "first\n") // creates the job's directory and file
	for range followers {
		require.NoError(t, <-first)
	}
	require.Equal(t, 1, inotifyInstances(t))
	b.srv.watches.mu.Lock()
	require.Equal(t, followers, b.srv.watches.users)
	require.Len(t, b.srv.watches.byWD, 1, "one watch, on the file")
	b.srv.watches.mu.Unlock()

	b.writeOutput(t, 1, 0, "stdout", "second\n")
	b.sched.setState(t, 1, 0, job.Done)
	wg.Wait()
	close(bodies)
	for body := range bodies {
		require.Equal(t, "first\nsecond\n", body)
	}
	require.Eventually(t, func() bool { return inotifyInstances(t) == 0 }, 5*time.Second, 10*time.Millisecond,
		"the last follower closes the instance")
}

// TestLogsFollowPolling follows a task's output where inotify is not to be
// had: the follower polls, and gets the output and the end.
func TestLogsFollowPolling(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.srv.watches.disabled = true
	b.submit(t, `{"template":{"command":"x"}}`)
	req, err := http.NewRequestWithContext(t.Context(), "GET", b.ts.URL+"/v1/tasks/1/logs?follow=true", nil)
	require.NoError(t, err)
	resp, err := b.ts.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	b.sched.setState(t, 1, 0, job.Running)
	b.writeOutput(t, 1, 0, "stdout", "first\n")
	line, err := rd.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "first\n", line)
	b.writeOutput(t, 1, 0, "stdout", "last")
	b.sched.setState(t, 1, 0, job.Done)
	rest, err := io.ReadAll(rd)
	require.NoError(t, err)
	require.Equal(t, "last", string(rest))
}
