package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/job"
)

// waitAsync starts a wait request and returns a channel with its answer.
func (b *testBundle) waitAsync(t *testing.T, query string) <-chan api.WaitResult {
	t.Helper()
	ch := make(chan api.WaitResult, 1)
	n := b.sched.subscribers()
	go func() {
		var out api.WaitResult
		code, body := b.do(t, "GET", "/v1/wait?"+query, "")
		if code != http.StatusOK {
			t.Errorf("wait answered %d: %s", code, body)
		}
		_ = jsonUnmarshal(body, &out)
		ch <- out
	}()
	// The wait is in place once it has subscribed.
	require.Eventually(t, func() bool { return b.sched.subscribers() > n }, 5*time.Second, 5*time.Millisecond)
	return ch
}

func TestWaitAll(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	b.submit(t, `{"template":{"command":"x"},"array":{"begin":1,"end":2,"step":1}}`)
	ch := b.waitAsync(t, "id=2&id=1")
	b.sched.setState(t, 1, 0, job.Done)
	b.sched.setState(t, 2, 1, job.Done)
	select {
	case <-ch:
		t.Fatal("wait answered before every job ended")
	case <-time.After(50 * time.Millisecond):
	}
	b.sched.setState(t, 2, 2, job.Failed)
	out := <-ch
	require.False(t, out.TimedOut)
	require.Equal(t, []int64{2, 1}, ids(out.Jobs))
	require.Equal(t, job.Failed, out.Jobs[0].State)
	require.Equal(t, job.Done, out.Jobs[1].State)

	// Jobs already ended: an immediate answer.
	var again api.WaitResult
	b.doJSON(t, "GET", "/v1/wait?id=1,2", "", http.StatusOK, &again)
	require.False(t, again.TimedOut)
}

func TestWaitAny(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	b.submit(t, `{"template":{"command":"x"}}`)
	ch := b.waitAsync(t, "id=1&id=2&any=true")
	b.sched.setState(t, 2, 0, job.Done)
	out := <-ch
	require.False(t, out.TimedOut)
	require.Equal(t, job.Queued, out.Jobs[0].State)
	require.Equal(t, job.Done, out.Jobs[1].State)
}

func TestWaitRemoved(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	ch := b.waitAsync(t, "id=1")
	code, _ := b.do(t, "DELETE", "/v1/jobs/1?force=true", "")
	require.Equal(t, http.StatusNoContent, code)
	out := <-ch
	require.False(t, out.TimedOut)
	require.Equal(t, []int64{1}, ids(out.Jobs))
}

func TestWaitTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	start := time.Now()
	var out api.WaitResult
	b.doJSON(t, "GET", "/v1/wait?id=1&timeout=100ms", "", http.StatusOK, &out)
	require.True(t, out.TimedOut)
	require.GreaterOrEqual(t, time.Since(start), 100*time.Millisecond)
	require.Equal(t, job.Queued, out.Jobs[0].State)
	b.doJSON(t, "GET", "/v1/wait?id=1&timeout=0", "", http.StatusOK, &out)
	require.True(t, out.TimedOut)

	b.requireError(t, "GET", "/v1/wait?id=1&id=9", "", http.StatusNotFound, "not_found", "", "no job 9")
	b.requireError(t, "GET", "/v1/wait", "", http.StatusBadRequest, "invalid", "id", "at least one")
	b.requireError(t, "GET", "/v1/wait?id=1&timeout=soon", "", http.StatusBadRequest, "invalid", "timeout", "invalid duration")
	b.requireError(t, "GET", "/v1/wait?id=1&any=sometimes", "", http.StatusBadRequest, "invalid", "any", "")
	require.Zero(t, b.sched.subscribers())
}
