package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/server/ui"
	"github.com/berth-run/berth/store"
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

	// An OpenJD job: its steps instead of tasks.
	ctx := context.Background()
	sub, pid, err := b.st.OpenJDInsert(ctx, &job.OpenJDJob{Template: "t"}, job.Spec{Name: "whole"}, time.Now())
	require.NoError(t, err)
	spec := job.Spec{Name: "whole/A", OpenJD: &job.OpenJDStep{Submission: sub, Step: "A", Job: pid}, Array: &job.Array{Begin: 1, End: 2, Step: 1}}.WithDefaults()
	step, err := b.st.JobInsert(ctx, &store.JobInsertParams{Spec: spec, SubmittedAt: time.Now(), State: job.Queued})
	require.NoError(t, err)
	code, body = b.do(t, "GET", fmt.Sprintf("/ui/jobs/%d", pid), "")
	require.Equal(t, 200, code)
	require.Contains(t, string(body), `id="steps"`)
	require.Contains(t, string(body), fmt.Sprintf(`href="/ui/jobs/%d"`, step))
	require.NotContains(t, string(body), `id="grid"`)

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

// openLive opens the dashboard's digest stream.
func (b *testBundle) openLive(t *testing.T, ctx context.Context, query string) *sseReader {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", b.ts.URL+"/ui/live"+query, nil)
	require.NoError(t, err)
	resp, err := b.ts.Client().Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { resp.Body.Close() })
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	return &sseReader{rd: bufio.NewReader(resp.Body)}
}

// digestUntil reads digests until done is true of the last one.
func (s *sseReader) digestUntil(t *testing.T, done func(*ui.Digest) bool) *ui.Digest {
	t.Helper()
	for {
		block := s.next(t)
		if block[0] == ": ping" {
			continue
		}
		require.Len(t, block, 2)
		require.Equal(t, "event: digest", block[0])
		var d ui.Digest
		require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(block[1], "data: ")), &d))
		if done(&d) {
			return &d
		}
	}
}

// TestDashboardLive follows the digests of a jobs page and of a job page:
// one subscription to the scheduler serves both, and each digest sums up
// the changes of its window.
func TestDashboardLive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	arr := b.submit(t, `{"name":"arr","template":{"command":"true"},"array":{"begin":1,"end":4,"step":1}}`)

	jobs := b.openLive(t, ctx, "")
	one := b.openLive(t, ctx, fmt.Sprintf("?job=%d", arr.ID))
	require.Equal(t, 1, b.sched.subscribers(), "the pages share one subscription")

	b.sched.setState(t, arr.ID, 1, job.Running)
	b.sched.setState(t, arr.ID, 2, job.Running)
	b.sched.setState(t, arr.ID, 2, job.Done)
	b.sched.setState(t, arr.ID, 3, job.Failed)

	tasks := map[int]ui.TaskChange{}
	d := one.digestUntil(t, func(d *ui.Digest) bool {
		for _, tc := range d.Tasks {
			tasks[tc.Index] = tc
		}
		return len(tasks) == 3 && tasks[2].State == job.Done
	})
	require.Equal(t, job.Running, tasks[1].State)
	require.Equal(t, job.Failed, tasks[3].State)
	require.Equal(t, "Failed EXIT_CODE 1", tasks[3].Text)
	require.Equal(t, "1/4 done, 1 failed", d.TaskCounts, "the Tasks field follows")
	require.Len(t, d.Jobs, 1)
	require.Equal(t, arr.ID, d.Jobs[0].Job)
	require.Empty(t, d.Rows, "a job page gets no rows")

	var row string
	d = jobs.digestUntil(t, func(d *ui.Digest) bool {
		row += d.Rows[arr.ID]
		return len(d.Jobs) == 1 && d.Jobs[0].State == job.Running && row != ""
	})
	require.Contains(t, row, fmt.Sprintf(`data-job="%d"`, arr.ID), "a job new to the page comes with its row")
	require.Empty(t, d.Tasks, "a jobs page gets no tasks")

	// Ended: the row comes again, with the counts.
	b.sched.setState(t, arr.ID, 1, job.Done)
	b.sched.setState(t, arr.ID, 4, job.Done)
	var ended string
	counts := map[string]int{}
	jobs.digestUntil(t, func(d *ui.Digest) bool {
		if len(d.Jobs) == 1 && d.Jobs[0].Ended {
			ended = d.Rows[arr.ID]
		}
		if d.Counts != nil {
			counts = d.Counts
		}
		return ended != "" && counts["Failed"] == 1
	})
	require.Contains(t, ended, "3/4 done, 1 failed")
	require.Equal(t, 1, counts["total"])
	one.digestUntil(t, func(d *ui.Digest) bool { return d.TaskCounts == "3/4 done, 1 failed" })

	b.requireError(t, "GET", "/ui/live?job=x", "", http.StatusBadRequest, "invalid", "job", "job ID")
	b.requireError(t, "GET", "/ui/live?job=1&job=2", "", http.StatusBadRequest, "invalid", "job", "one job")
	cancel()
	require.Eventually(t, func() bool { return b.sched.subscribers() == 0 }, 10*time.Second, 10*time.Millisecond,
		"the last page gone, the subscription ends")
}
