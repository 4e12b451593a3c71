package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var h map[string]any
	b.doJSON(t, "GET", "/v1/health", "", http.StatusOK, &h)
	require.Positive(t, h["data_dir_bytes"], "the store's files take room")
	delete(h, "data_dir_bytes")
	require.Equal(t, map[string]any{"ok": true, "status": "ok", "ready": true, "version": "1.2.3", "server_id": "test-server"}, h)
	b.requireError(t, "GET", "/v1/health?x=1", "", http.StatusBadRequest, "invalid", "x", "unknown parameter")
}

func TestSubmitValidNames(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.submit(t, `{"template":{"command":"x","image":"registry.example.com:5000/team/app:1.2","workdir":"/srv/x"},`+
		`"pool":"gpu-2_a","labels":{"example.com/team":"a"},"constraints":{"zone":"c"}}`)
	require.Equal(t, "gpu-2_a", j.Pool)
	// Braces, commas and escaped quotes in strings are not structure.
	j = b.submit(t, `{"name":"a\"{,\"name\":","template":{"command":"x","args":["}","[",","],"env":{"A":"{\"A\":1}"}}}`)
	require.Equal(t, `a"{,"name":`, j.Name)
	b.submit(t, `{"template":{"command":"x","image":"sha256:`+strings.Repeat("ab", 32)+`"}}`)
	b.submit(t, `{"template":{"command":"x","image":"`+strings.Repeat("cd", 32)+`"}}`)
}

func TestQueryNUL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`) // unnamed: name=%00 once matched it
	b.requireError(t, "GET", "/v1/jobs?name=%00", "", http.StatusBadRequest, "invalid", "name", "NUL")
	b.requireError(t, "GET", "/v1/jobs?state=Queued&label=a=%00", "", http.StatusBadRequest, "invalid", "label", "NUL")
	b.requireError(t, "GET", "/v1/jobs?label=-a=b", "", http.StatusBadRequest, "invalid", "label", "invalid key")
	b.requireError(t, "GET", "/v1/jobs/1?x%00=1", "", http.StatusBadRequest, "invalid", "query", "NUL")
}

func TestWaiting(t *testing.T) {
	t.Parallel()
	b := setup(t)
	get := func(id int64) *job.Job {
		var j job.Job
		b.doJSON(t, "GET", fmt.Sprintf("/v1/jobs/%d", id), "", http.StatusOK, &j)
		return &j
	}
	j := b.submit(t, `{"template":{"command":"x"},"constraints":{"zone":"c"}}`)
	require.Equal(t, "no live worker in pool default", j.Waiting)
	b.sched.mu.Lock()
	b.sched.workers = []WorkerStatus{
		{Heartbeat: dispatch.Heartbeat{Worker: "a", Pool: "default", Labels: map[string]string{"zone": "a"}}, Alive: true},
		{Heartbeat: dispatch.Heartbeat{Worker: "b", Pool: "gpu", Labels: map[string]string{"zone": "c"}}, Alive: true},
		{Heartbeat: dispatch.Heartbeat{Worker: "c", Labels: map[string]string{"zone": "c"}}, Alive: false},
	}
	b.sched.mu.Unlock()
	require.Equal(t, "no worker with zone=c", get(j.ID).Waiting)
	j2 := b.submit(t, `{"template":{"command":"x"},"pool":"gpu","constraints":{"zone":"c","disk":"ssd"}}`)
	require.Equal(t, "no worker of pool gpu with disk=ssd", j2.Waiting)
	j3 := b.submit(t, `{"template":{"command":"x"},"constraints":{"zone":"a"}}`)
	require.Empty(t, j3.Waiting)
	j4 := b.submit(t, `{"template":{"command":"x"},"pool":"cpu"}`)
	require.Equal(t, "no live worker in pool cpu", j4.Waiting)
	b.sched.setState(t, j4.ID, 0, job.Done)
	require.Empty(t, get(j4.ID).Waiting, "an ended job waits for nothing")
}

// TestHealthStarting: until the server is ready the health says so with a
// 503, and every other request is answered 503 "starting".
func TestHealthStarting(t *testing.T) {
	t.Parallel()
	ready := make(chan struct{})
	b := setupWith(t, t.TempDir(), func(c *Config) { c.Ready = ready })
	var h map[string]any
	b.doJSON(t, "GET", "/v1/health", "", http.StatusServiceUnavailable, &h)
	delete(h, "data_dir_bytes")
	require.Equal(t, map[string]any{"ok": false, "status": "starting", "ready": false, "version": "1.2.3", "server_id": "test-server",
		"error": map[string]any{"code": "starting", "message": "the server is starting: it is recovering its jobs"}}, h)
	b.requireError(t, "GET", "/v1/jobs", "", http.StatusServiceUnavailable, "starting", "", "starting")
	b.requireError(t, "POST", "/v1/jobs", `{"template":{"command":"x"}}`, http.StatusServiceUnavailable, "starting", "", "starting")
	_, err := b.st.JobGet(t.Context(), 1)
	require.ErrorIs(t, err, job.ErrNotFound, "nothing submitted while starting")

	close(ready)
	b.doJSON(t, "GET", "/v1/health", "", http.StatusOK, &h)
	require.Equal(t, "ok", h["status"])
	require.Equal(t, true, h["ready"])
	b.submit(t, `{"template":{"command":"x"}}`)
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.requireError(t, "GET", "/v1/nope", "", http.StatusNotFound, "not_found", "", "no endpoint GET /v1/nope")
	b.requireError(t, "GET", "/nope", "", http.StatusNotFound, "not_found", "", "no endpoint")
	b.requireError(t, "PUT", "/v1/health", "", http.StatusMethodNotAllowed, "method_not_allowed", "", "allowed: GET, HEAD")
	b.requireError(t, "GET", "/v1/jobs/1/suspend", "", http.StatusMethodNotAllowed, "method_not_allowed", "", "POST")
}

func TestSubmit(t *testing.T) {
	t.Parallel()
	b := setup(t)
	j := b.submit(t, `{"name":"hello","template":{"command":"echo","args":["hi"],"time_limit":"1m"},"labels":{"team":"a"}}`)
	require.Equal(t, int64(1), j.ID)
	require.Equal(t, "hello", j.Name)
	require.Equal(t, job.Queued, j.State)
	require.Equal(t, 1, j.TaskCount)
	require.Equal(t, job.PoolDefault, j.Pool)
	require.Equal(t, "echo", j.Template.Command)
	require.Equal(t, OwnerToken, j.Owner, "submitted on TCP")

	arr := b.submit(t, `{"template":{"command":"x"},"array":{"begin":1,"end":5,"step":2},"hold":true}`)
	require.Equal(t, 3, arr.TaskCount)
	require.Equal(t, job.QueuedHeld, arr.State)
}

func TestSubmitInvalid(t *testing.T) {
	t.Parallel()
	b := setup(t)
	cases := []struct {
		name, body, field, msg string
	}{
		{"empty", ``, "body", "empty"},
		{"syntax", `{"template":`, "body", "truncated"},
		{"syntax offset", `{"template" 1}`, "body", "invalid JSON at byte"},
		{"not an object", `[1]`, "body", "want an object"},
		{"trailing", `{"template":{"command":"x"}} {}`, "body", "unexpected data"},
		{"unknown field", `{"template":{"command":"x"},"nme":"a"}`, "nme", "unknown field"},
		{"owner", `{"template":{"command":"x"},"owner":"root"}`, "owner", "set by the server"},
		{"openjd", `{"openjd":{"submission":1,"step":"A"}}`, "openjd", "POST /v1/openjd/jobs"},
		{"unknown nested field", `{"template":{"command":"x","argz":[]}}`, "template.argz", "unknown field"},
		{"wrong type", `{"template":{"command":"x","args":"a b"}}`, "template.args", "want an array, got a string"},
		{"wrong item type", `{"template":{"command":"x","args":["a",2]}}`, "template.args[1]", "want a string, got a number"},
		{"wrong type int", `{"template":{"command":"x"},"priority":"high"}`, "priority", "want an integer"},
		{"bad duration", `{"template":{"command":"x","time_limit":"soon"}}`, "template.time_limit", "invalid duration"},
		{"missing command", `{"template":{}}`, "template.command", "required"},
		{"bad array", `{"template":{"command":"x"},"array":{"begin":5,"end":1,"step":1}}`, "array", "end must not be less than begin"},
		{"bad array type", `{"template":{"command":"x"},"array":"1-3"}`, "array", "want an object"},
		{"array and inputs", `{"template":{"command":"x"},"array":{"begin":1,"end":2,"step":1},"inputs":["a"]}`, "inputs", "not both"},
		{"relative workdir", `{"template":{"command":"x","workdir":"rel/dir"}}`, "template.workdir", "not an absolute path"},
		{"workdir with ..", `{"template":{"command":"x","workdir":"/a/../b"}}`, "template.workdir", "'..'"},
		{"pool with ..", `{"template":{"command":"x"},"pool":"../x"}`, "pool", "invalid pool"},
		{"pool with a dot", `{"template":{"command":"x"},"pool":"a.b"}`, "pool", "invalid pool"},
		{"pool with a wildcard", `{"template":{"command":"x"},"pool":"a*"}`, "pool", "invalid pool"},
		{"label key", `{"template":{"command":"x"},"labels":{"-team":"a"}}`, "labels", "invalid key"},
		{"label key with a space", `{"template":{"command":"x"},"labels":{"a b":"a"}}`, "labels", "invalid key"},
		{"constraint key", `{"template":{"command":"x"},"constraints":{"zone/":"c"}}`, "constraints", "invalid key"},
		{"image path", `{"template":{"command":"x","image":"../../x"}}`, "template.image", "invalid image reference"},
		{"image upper case", `{"template":{"command":"x","image":"Busybox"}}`, "template.image", "invalid image reference"},
		{"image bad tag", `{"template":{"command":"x","image":"busybox:a b"}}`, "template.image", "invalid image reference"},
		{"duplicate key", `{"name":"a","template":{"command":"x"},"name":"b"}`, "name", "given more than once"},
		{"duplicate nested key", `{"template":{"command":"x","env":{"A":"1","A":"2"}}}`, "template.env.A", "given more than once"},
		{"duplicate escaped key", `{"template":{"command":"x","env":{"A":"1","\u0041":"2"}}}`, "template.env.A", "given more than once"},
		{"duplicate key in an array's second item", `{"template":{"command":"x","args":["{\"","]"],"stage_in":[{"host":"/a","container":"/b"},{"host":"/c","container":"/d","container":"/e"}]}}`, "template.stage_in[1].container", "given more than once"},
		{"duplicate key in an array", `{"template":{"command":"x","stage_in":[{"host":"/a","container":"/b","host":"/c"}]}}`, "template.stage_in[0].host", "given more than once"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b.requireError(t, "POST", "/v1/jobs", c.body, http.StatusBadRequest, "invalid", c.field, c.msg)
		})
	}
	// Nothing was recorded.
	var list api.JobPage
	b.doJSON(t, "GET", "/v1/jobs", "", http.StatusOK, &list)
	require.Empty(t, list.Jobs)
}

func TestListJobs(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for i := range 5 {
		b.submit(t, fmt.Sprintf(`{"name":"job-%d","template":{"command":"x"},"labels":{"n":"%d"}}`, i+1, (i+1)%2))
	}
	b.sched.setState(t, 2, 0, job.Done)

	var list api.JobPage
	b.doJSON(t, "GET", "/v1/jobs", "", http.StatusOK, &list)
	require.Len(t, list.Jobs, 5)
	require.Zero(t, list.NextAfterID)

	b.doJSON(t, "GET", "/v1/jobs?limit=2", "", http.StatusOK, &list)
	require.Equal(t, []int64{1, 2}, ids(list.Jobs))
	require.Equal(t, int64(2), list.NextAfterID)
	b.doJSON(t, "GET", "/v1/jobs?limit=2&after_id=4", "", http.StatusOK, &list)
	require.Equal(t, []int64{5}, ids(list.Jobs))
	require.Zero(t, list.NextAfterID)

	b.doJSON(t, "GET", "/v1/jobs?state=done", "", http.StatusOK, &list)
	require.Equal(t, []int64{2}, ids(list.Jobs))
	b.doJSON(t, "GET", "/v1/jobs?state=Done,queued", "", http.StatusOK, &list)
	require.Len(t, list.Jobs, 5)
	b.doJSON(t, "GET", "/v1/jobs?name=job-[34]", "", http.StatusOK, &list)
	require.Equal(t, []int64{3, 4}, ids(list.Jobs))
	b.doJSON(t, "GET", "/v1/jobs?label=n=0", "", http.StatusOK, &list)
	require.Equal(t, []int64{2, 4}, ids(list.Jobs))
	b.doJSON(t, "GET", "/v1/jobs?id=5&id=1,3", "", http.StatusOK, &list)
	require.Equal(t, []int64{1, 3, 5}, ids(list.Jobs))
	b.doJSON(t, "GET", "/v1/jobs?since=1h", "", http.StatusOK, &list)
	require.Len(t, list.Jobs, 5)
	b.doJSON(t, "GET", "/v1/jobs?since=2099-01-01T00:00:00Z", "", http.StatusOK, &list)
	require.Empty(t, list.Jobs)

	for _, c := range []struct{ q, field, msg string }{
		{"state=bogus", "state", "Queued, QueuedHeld"},
		{"limit=0", "limit", "from 1 to 10000"},
		{"limit=10001", "limit", "from 1 to 10000"},
		{"after_id=x", "after_id", "integer"},
		{"id=-1", "id", "positive"},
		{"label=x", "label", "KEY=VALUE"},
		{"since=yesterday", "since", "RFC 3339"},
		{"name=[", "name", "glob"},
		{"sort=id", "sort", "unknown parameter"},
	} {
		b.requireError(t, "GET", "/v1/jobs?"+c.q, "", http.StatusBadRequest, "invalid", c.field, c.msg)
	}
}

func ids(jobs []*job.Job) []int64 {
	var out []int64
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func TestGetAndRemoveJob(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	var j job.Job
	b.doJSON(t, "GET", "/v1/jobs/1", "", http.StatusOK, &j)
	require.Equal(t, int64(1), j.ID)

	b.requireError(t, "GET", "/v1/jobs/7", "", http.StatusNotFound, "not_found", "", "no job 7")
	b.requireError(t, "GET", "/v1/jobs/abc", "", http.StatusBadRequest, "invalid", "id", "positive integer")
	b.requireError(t, "DELETE", "/v1/jobs/7", "", http.StatusNotFound, "not_found", "", "no job 7")
	// The fake refuses an unended job without force, as the scheduler does.
	b.requireError(t, "DELETE", "/v1/jobs/1", "", http.StatusConflict, "invalid_state", "", "")
	b.requireError(t, "DELETE", "/v1/jobs/1?force=maybe", "", http.StatusBadRequest, "invalid", "force", "true or false")
	code, _ := b.do(t, "DELETE", "/v1/jobs/1?force=true", "")
	require.Equal(t, http.StatusNoContent, code)
	b.requireError(t, "GET", "/v1/jobs/1", "", http.StatusNotFound, "not_found", "", "no job 1")
}

func TestListTasks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"},"inputs":["a","b","c","d"]}`)
	b.sched.setState(t, 1, 2, job.Failed)
	var list api.TaskPage
	b.doJSON(t, "GET", "/v1/jobs/1/tasks", "", http.StatusOK, &list)
	require.Len(t, list.Tasks, 4)
	require.Equal(t, -1, list.NextAfterIndex)
	require.Equal(t, "c", list.Tasks[2].Input)

	b.doJSON(t, "GET", "/v1/jobs/1/tasks?limit=2", "", http.StatusOK, &list)
	require.Len(t, list.Tasks, 2)
	require.Equal(t, 2, list.NextAfterIndex)
	b.doJSON(t, "GET", "/v1/jobs/1/tasks?limit=2&after_index=2", "", http.StatusOK, &list)
	require.Equal(t, 3, list.Tasks[0].Index)
	require.Equal(t, -1, list.NextAfterIndex)
	b.doJSON(t, "GET", "/v1/jobs/1/tasks?state=failed", "", http.StatusOK, &list)
	require.Len(t, list.Tasks, 1)
	require.Equal(t, 2, list.Tasks[0].Index)

	b.requireError(t, "GET", "/v1/jobs/9/tasks", "", http.StatusNotFound, "not_found", "", "no job 9")
	b.requireError(t, "GET", "/v1/jobs/1/tasks?after_index=-2", "", http.StatusBadRequest, "invalid", "after_index", "")
	b.requireError(t, "GET", "/v1/jobs/1/tasks?state=nope", "", http.StatusBadRequest, "invalid", "state", "want one of")
}

func TestGetTask(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"}}`)
	b.submit(t, `{"template":{"command":"x"},"array":{"begin":1,"end":3,"step":1}}`)
	b.sched.setState(t, 1, 0, job.Running)

	var td struct {
		job.Task
		History []map[string]any `json:"history"`
	}
	b.doJSON(t, "GET", "/v1/tasks/1", "", http.StatusOK, &td)
	require.Equal(t, job.Running, td.State)
	require.Len(t, td.History, 2)
	b.doJSON(t, "GET", "/v1/tasks/2.3", "", http.StatusOK, &td)
	require.Equal(t, 3, td.Index)

	b.requireError(t, "GET", "/v1/tasks/2", "", http.StatusBadRequest, "invalid", "ref", "job 2 is an array; name a task as 2.INDEX")
	b.requireError(t, "GET", "/v1/tasks/2.9", "", http.StatusNotFound, "not_found", "", "no task 2.9")
	b.requireError(t, "GET", "/v1/tasks/7.3", "", http.StatusNotFound, "not_found", "", "no job 7")
	b.requireError(t, "GET", "/v1/tasks/7", "", http.StatusNotFound, "not_found", "", "no job 7")
	b.requireError(t, "GET", "/v1/tasks/x.1", "", http.StatusBadRequest, "invalid", "ref", "invalid job ID")
}

func TestControl(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.submit(t, `{"template":{"command":"x"},"array":{"begin":1,"end":3,"step":1}}`)
	var out map[string]int
	b.doJSON(t, "POST", "/v1/jobs/1/hold", "", http.StatusOK, &out)
	require.Equal(t, map[string]int{"changed": 3}, out)
	b.doJSON(t, "POST", "/v1/jobs/1.2/suspend", "", http.StatusOK, &out)
	require.Equal(t, 1, out["changed"])
	b.doJSON(t, "POST", "/v1/jobs/1/terminate?grace=1.5s", "", http.StatusOK, &out)
	b.doJSON(t, "POST", "/v1/jobs/1.3/terminate?grace=0", "", http.StatusOK, &out)
	require.Equal(t, []string{"hold 1", "suspend 1.2", "terminate 1 grace=1.5s", "terminate 1.3 grace=0s"}, b.sched.controls)
	b.requireError(t, "POST", "/v1/jobs/1/hold?grace=1s", "", http.StatusBadRequest, "invalid", "grace", "only terminate")
	b.requireError(t, "POST", "/v1/jobs/1/terminate?grace=soon", "", http.StatusBadRequest, "invalid", "grace", "invalid duration")
	b.doJSON(t, "POST", "/v1/jobs/1/terminate?signal=int&grace=5s", "", http.StatusOK, &out)
	require.Equal(t, "terminate 1 grace=5s signal=SIGINT", b.sched.controls[len(b.sched.controls)-1])
	b.requireError(t, "POST", "/v1/jobs/1/terminate?signal=STOP", "", http.StatusBadRequest, "invalid", "signal", `unknown signal "STOP"`)
	b.requireError(t, "POST", "/v1/jobs/1/hold?signal=INT", "", http.StatusBadRequest, "invalid", "signal", "only terminate")

	b.requireError(t, "POST", "/v1/jobs/1/explode", "", http.StatusBadRequest, "invalid", "action", "want suspend, resume")
	b.requireError(t, "POST", "/v1/jobs/0/hold", "", http.StatusBadRequest, "invalid", "ref", "")
	b.requireError(t, "POST", "/v1/jobs/9/hold", "", http.StatusNotFound, "not_found", "", "no job 9")
	b.requireError(t, "POST", "/v1/jobs/9.1/hold", "", http.StatusNotFound, "not_found", "", "no job 9")
	b.requireError(t, "POST", "/v1/jobs/1.7/hold", "", http.StatusNotFound, "not_found", "", "no task 1.7")

	b.sched.mu.Lock()
	b.sched.controlErr = fmt.Errorf("job 1 is not held: %w", job.ErrInvalidState)
	b.sched.mu.Unlock()
	b.requireError(t, "POST", "/v1/jobs/1/release", "", http.StatusConflict, "invalid_state", "", "job 1 is not held")
	b.sched.mu.Lock()
	b.sched.controlErr = errors.New("disk on fire")
	b.sched.mu.Unlock()
	b.requireError(t, "POST", "/v1/jobs/1/release", "", http.StatusInternalServerError, "internal", "", "disk on fire")
	b.sched.mu.Lock()
	b.sched.controlErr = &job.FieldError{Field: "action", Reason: "not for this executor"}
	b.sched.mu.Unlock()
	b.requireError(t, "POST", "/v1/jobs/1/suspend", "", http.StatusBadRequest, "invalid", "action", "not for this executor")
}

func TestWorkers(t *testing.T) {
	t.Parallel()
	b := setup(t)
	var out struct {
		Workers []WorkerStatus `json:"workers"`
	}
	b.doJSON(t, "GET", "/v1/workers", "", http.StatusOK, &out)
	require.NotNil(t, out.Workers)
	require.Empty(t, out.Workers)

	b2 := setup(t)
	b2.sched.workers = []WorkerStatus{{Heartbeat: dispatch.Heartbeat{Worker: "w1", Pool: "default", Slots: 4}, Alive: true}}
	b2.doJSON(t, "GET", "/v1/workers", "", http.StatusOK, &out)
	require.Len(t, out.Workers, 1)
	require.Equal(t, "w1", out.Workers[0].Worker)
	require.True(t, out.Workers[0].Alive)
}
