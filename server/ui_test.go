package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/job"
)

// TestDashboardPages reads the dashboard's pages and fragments over the
// socket's handler (no login needed); the browser tests in e2e/browser
// drive them for real.
func TestDashboardPages(t *testing.T) {
	t.Parallel()
	b := setup(t)

	code, body := b.do(t, "GET", "/ui/", "")
	require.Equal(t, 200, code)
	require.Contains(t, string(body), "No jobs yet")
	require.Contains(t, string(body), "berth run -- echo hello")

	b.submit(t, `{"name":"hello <b>","template":{"command":"echo","args":["hi"]},"labels":{"team":"a"}}`)
	b.submit(t, `{"name":"arr","template":{"command":"true"},"array":{"begin":1,"end":4,"step":1},"pool":"gpu"}`)

	code, body = b.do(t, "GET", "/ui/", "")
	require.Equal(t, 200, code)
	page := string(body)
	require.NotContains(t, page, "No jobs yet")
	require.Contains(t, page, `data-job="1"`)
	require.Contains(t, page, "hello &lt;b&gt;", "names are escaped")
	require.Less(t, strings.Index(page, `data-job="2"`), strings.Index(page, `data-job="1"`), "newest first")

	// The filters of berth ls, and a bad one named.
	_, body = b.do(t, "GET", "/ui/?pool=gpu", "")
	require.Contains(t, string(body), `data-job="2"`)
	require.NotContains(t, string(body), `data-job="1"`)
	_, body = b.do(t, "GET", "/ui/?label=team=a&name=hello*", "")
	require.Contains(t, string(body), `data-job="1"`)
	require.NotContains(t, string(body), `data-job="2"`)
	code, body = b.do(t, "GET", "/ui/?state=nope", "")
	require.Equal(t, 400, code)
	require.Contains(t, string(body), "state")

	code, body = b.do(t, "GET", "/ui/jobs/1", "")
	require.Equal(t, 200, code)
	require.Contains(t, string(body), `id="log"`)
	require.Contains(t, string(body), "echo hi")
	code, body = b.do(t, "GET", "/ui/jobs/2", "")
	require.Equal(t, 200, code)
	require.Contains(t, string(body), `id="grid"`)
	code, _ = b.do(t, "GET", "/ui/jobs/2?task=3", "")
	require.Equal(t, 200, code)
	code, _ = b.do(t, "GET", "/ui/jobs/9", "")
	require.Equal(t, 404, code)

	var grid struct {
		Index  []int  `json:"index"`
		States string `json:"states"`
	}
	b.doJSON(t, "GET", "/ui/jobs/2/grid", "", 200, &grid)
	require.Equal(t, []int{1, 2, 3, 4}, grid.Index)
	require.Equal(t, "QQQQ", grid.States)

	code, body = b.do(t, "GET", "/ui/rows?id=1&id=2&id=99", "")
	require.Equal(t, 200, code)
	require.Equal(t, 2, strings.Count(string(body), "<tr"))
	code, _ = b.do(t, "GET", "/ui/rows?id=x", "")
	require.Equal(t, 400, code)

	var counts map[string]int
	b.doJSON(t, "GET", "/ui/counts", "", 200, &counts)
	require.Contains(t, counts, "total")

	code, body = b.do(t, "GET", "/ui/workers", "")
	require.Equal(t, 200, code)
	require.Contains(t, string(body), "No worker heard from")
	code, _ = b.do(t, "GET", "/ui/static/app.js", "")
	require.Equal(t, 200, code)

	code, body = b.do(t, "GET", "/v1/openapi.yaml", "")
	require.Equal(t, 200, code)
	require.Contains(t, string(body), "openapi: 3.0.3")
	code, body = b.do(t, "GET", "/metrics", "")
	require.Equal(t, 200, code)
	require.Contains(t, string(body), "go_goroutines")
	var uiCode map[string]string
	b.doJSON(t, "POST", "/v1/ui/codes", "", 201, &uiCode)
	require.Len(t, uiCode["code"], 32)
	require.Empty(t, uiCode["url"], "no TCP listener")
}

// TestEventsCoalesce checks that a coalesced stream still delivers every
// event, in order.
func TestEventsCoalesce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sse := b.openEvents(t, ctx, "?coalesce=50ms")
	for i := range 5 {
		b.sched.emit(job.Event{Job: int64(i + 1), State: job.Running, JobState: job.Running})
	}
	for i := range 5 {
		require.Equal(t, int64(i+1), sse.nextEvent(t).Job)
	}
	b.requireError(t, "GET", "/v1/events?coalesce=1h", "", http.StatusBadRequest, "invalid", "coalesce", "out of range")
}
