package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// openAPI is docs/openapi.yaml, decoded.
type openAPI struct{ doc map[string]any }

func loadOpenAPI(t *testing.T) *openAPI {
	t.Helper()
	data, err := os.ReadFile("../docs/openapi.yaml")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal(data, &doc))
	return &openAPI{doc: doc}
}

// resolve follows $ref until it reaches an object without one.
func (o *openAPI) resolve(t *testing.T, node any) map[string]any {
	t.Helper()
	m, ok := node.(map[string]any)
	require.True(t, ok, "want an object, got %T", node)
	for {
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		require.True(t, strings.HasPrefix(ref, "#/"), "only local refs: %s", ref)
		var cur any = o.doc
		for _, part := range strings.Split(ref[2:], "/") {
			cm, ok := cur.(map[string]any)
			require.True(t, ok, "bad ref %s", ref)
			cur = cm[part]
		}
		require.NotNil(t, cur, "dangling ref %s", ref)
		m = cur.(map[string]any)
	}
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options"}

// routes returns "METHOD /path" for every documented operation.
func (o *openAPI) routes() []string {
	var out []string
	for path, item := range o.doc["paths"].(map[string]any) {
		for k := range item.(map[string]any) {
			if slices.Contains(httpMethods, k) {
				out = append(out, strings.ToUpper(k)+" "+path)
			}
		}
	}
	return out
}

// responseSchema returns the JSON schema of a documented response, nil if
// the response has no JSON body; it fails if the status is not documented.
func (o *openAPI) responseSchema(t *testing.T, method, path string, status int) map[string]any {
	t.Helper()
	item, ok := o.doc["paths"].(map[string]any)[path].(map[string]any)
	require.True(t, ok, "path %s not documented", path)
	op, ok := item[strings.ToLower(method)].(map[string]any)
	require.True(t, ok, "%s %s not documented", method, path)
	resp, ok := op["responses"].(map[string]any)[itoa(status)]
	require.True(t, ok, "%s %s: status %d not documented", method, path, status)
	content, ok := o.resolve(t, resp)["content"].(map[string]any)
	if !ok {
		return nil
	}
	media, ok := content["application/json"]
	if !ok {
		media, ok = content["text/event-stream"]
	}
	if !ok {
		return nil
	}
	return o.resolve(t, media.(map[string]any)["schema"])
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// check compares a JSON value with a schema: objects have only documented
// properties and every required one, recursively. At the top level, full
// demands every documented property except those in absent.
func (o *openAPI) check(t *testing.T, schema map[string]any, v any, where string, full bool, absent ...string) {
	t.Helper()
	if items, ok := schema["items"]; ok {
		arr, ok := v.([]any)
		require.True(t, ok, "%s: want an array, got %T", where, v)
		for i, it := range arr {
			o.check(t, o.resolve(t, items), it, where+"["+itoa(i)+"]", false)
		}
		return
	}
	props, ok := schema["properties"].(map[string]any)
	if !ok {
		return
	}
	obj, ok := v.(map[string]any)
	require.True(t, ok, "%s: want an object, got %T (%v)", where, v, v)
	for k, pv := range obj {
		ps, ok := props[k]
		require.True(t, ok, "%s: property %q is not documented", where, k)
		o.check(t, o.resolve(t, ps), pv, where+"."+k, false)
	}
	req, _ := schema["required"].([]any)
	for _, r := range req {
		require.Contains(t, obj, r, "%s: required property %q missing", where, r)
	}
	if full {
		for k := range props {
			if !slices.Contains(absent, k) {
				require.Contains(t, obj, k, "%s: documented property %q missing", where, k)
			}
		}
	}
}

// TestOpenAPIRoutes checks that the handler serves exactly the documented
// operations.
func TestOpenAPIRoutes(t *testing.T) {
	t.Parallel()
	o := loadOpenAPI(t)
	b := setup(t)
	var served []string
	// Mux patterns in OpenAPI's spelling: /ui/{$} is /ui/, {file...} is {file}.
	norm := strings.NewReplacer("{$}", "", "...}", "}")
	for _, r := range b.srv.allRoutes() {
		served = append(served, r.method+" "+norm.Replace(r.path))
	}
	require.ElementsMatch(t, o.routes(), served)

	// And the handler answers each (not with "no endpoint" or 405).
	b.submit(t, `{"template":{"command":"x"}}`)
	for _, rt := range o.routes() {
		method, path, _ := strings.Cut(rt, " ")
		path = strings.NewReplacer("{id}", "1", "{ref}", "1", "{action}", "hold", "{file}", "app.js").Replace(path)
		if path == "/v1/wait" {
			path += "?id=1&timeout=0"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, err := http.NewRequestWithContext(ctx, method, b.ts.URL+path, nil)
		require.NoError(t, err)
		resp, err := b.ts.Client().Do(req)
		require.NoError(t, err, rt)
		var e errBody
		if resp.Header.Get("Content-Type") == "application/json" {
			_ = json.NewDecoder(resp.Body).Decode(&e)
		}
		resp.Body.Close()
		cancel()
		require.NotEqual(t, http.StatusMethodNotAllowed, resp.StatusCode, rt)
		require.NotContains(t, e.Error.Message, "no endpoint", rt)
	}
}

// TestOpenAPIResponses checks real answers of representative endpoints
// against their documented schemas.
func TestOpenAPIResponses(t *testing.T) {
	t.Parallel()
	o := loadOpenAPI(t)
	b := setup(t)
	ctx := context.Background()

	// Job 1: an array with every spec property but inputs.
	fullArray := `{"name":"all","template":{"command":"x","args":["a"],"env":{"K":"V"},"workdir":"/tmp","image":"alpine",
		"time_limit":"1m","rerunnable":true,"max_attempts":2,"output_path":"/tmp/o","error_path":"/tmp/e","stage_in":[{"host":"/tmp/i","container":"/i","rw":true}],"stage_out":[{"host":"/tmp/r","container":"/r"}],"extensions":{"pull":"never"}},
		"array":{"begin":1,"end":2,"step":1},"max_parallel":1,"hold":true,"after":[1000],"labels":{"l":"v"},"priority":5,"pool":"p","constraints":{"gpu":"yes"},"submit_dir":"/tmp"}`
	// Job 2: a plain job, which has a sub-state and, once ended, finished_at.
	plain := strings.Replace(fullArray, `"array":{"begin":1,"end":2,"step":1},`, "", 1)
	// Job 3: inputs.
	inputs := `{"name":"in","template":{"command":"x"},"inputs":["a"]}`

	type call struct {
		method, doc, path, body string
		status                  int
		full                    bool
		absent                  []string
	}
	run := func(c call) map[string]any {
		t.Helper()
		code, body := b.do(t, c.method, c.path, c.body)
		require.Equal(t, c.status, code, "%s %s: %s", c.method, c.path, body)
		schema := o.responseSchema(t, c.method, c.doc, c.status)
		if schema == nil {
			require.Empty(t, body)
			return nil
		}
		var v map[string]any
		require.NoError(t, json.Unmarshal(body, &v), "%s", body)
		o.check(t, schema, v, c.method+" "+c.path, c.full, c.absent...)
		return v
	}

	// POST /v1/jobs: every documented answer.
	run(call{"POST", "/v1/jobs", "/v1/jobs", fullArray, 201, true, []string{"inputs", "substate", "finished_at", "waiting", "openjd", "steps"}})
	run(call{"POST", "/v1/jobs", "/v1/jobs", plain, 201, true, []string{"array", "inputs", "finished_at", "waiting", "openjd", "steps"}})
	run(call{"POST", "/v1/jobs", "/v1/jobs", inputs, 201, false, nil})
	run(call{"POST", "/v1/jobs", "/v1/jobs", `{"nope":1}`, 400, true, nil})
	b.sched.mu.Lock()
	b.sched.submitErr = errors.New("disk full")
	b.sched.mu.Unlock()
	run(call{"POST", "/v1/jobs", "/v1/jobs", `{"template":{"command":"x"}}`, 500, true, nil})
	b.sched.mu.Lock()
	b.sched.submitErr = nil
	b.sched.mu.Unlock()
	{
		rec := httptest.NewRecorder()
		b.srv.requireToken("t", b.srv.Handler()).ServeHTTP(rec, httptest.NewRequest("POST", "/v1/jobs", strings.NewReader("{}")))
		require.Equal(t, 401, rec.Code)
		var v map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
		o.check(t, o.responseSchema(t, "POST", "/v1/jobs", 401), v, "401", true)
	}

	// A task with every Info field, and output to receive.
	task, err := b.st.TaskGet(ctx, 3, 1)
	require.NoError(t, err)
	now := time.Now()
	code := 0
	task.State, task.SubState = job.Done, job.ExitCode(0)
	task.Info = job.Info{Attempt: 1, Input: "a", Worker: "w", Host: "h", PID: 7, ContainerID: "c", ExitCode: &code,
		Signal: "SIGTERM", Message: "m", SubmittedAt: now, StartedAt: &now, FinishedAt: &now, CPUTime: job.Duration(time.Second),
		MaxRSS: 1 << 20, Stdout: "/o", Stderr: "/e", Session: "w/1/1",
		Hostname: "c", Ports: []job.PublishedPort{{Port: 80, Proto: "tcp", HostIP: "0.0.0.0", HostPort: 32768}}}
	require.NoError(t, b.st.TasksPut(ctx, []*job.Task{task}, now))
	// Not UTF-8, so the base64 fields are there too.
	b.writeOutput(t, 3, 1, "stdout", "out\xff")
	b.writeOutput(t, 3, 1, "stderr", "err\xfe")
	b.writeOutput(t, 3, 1, "result.jsonl", "{}\n")
	b.sched.setState(t, 2, 0, job.Done)

	run(call{"GET", "/v1/health", "/v1/health", "", 200, true, []string{"store", "dispatch", "error"}})
	run(call{"GET", "/v1/jobs", "/v1/jobs", "", 200, true, nil})
	run(call{"GET", "/v1/jobs", "/v1/jobs?state=nope", "", 400, true, nil})
	run(call{"GET", "/v1/jobs/{id}", "/v1/jobs/2", "", 200, true, []string{"array", "inputs", "waiting", "openjd", "steps"}})
	run(call{"GET", "/v1/jobs/{id}", "/v1/jobs/9", "", 404, true, []string{"field"}})
	run(call{"GET", "/v1/jobs/{id}/tasks", "/v1/jobs/1/tasks", "", 200, true, nil})
	run(call{"GET", "/v1/tasks/{ref}", "/v1/tasks/3.1", "", 200, true, []string{"retry_at"}})
	run(call{"GET", "/v1/tasks/{ref}/results", "/v1/tasks/3.1/results", "", 200, true, nil})
	run(call{"POST", "/v1/jobs/{ref}/{action}", "/v1/jobs/1/release", "", 200, true, nil})
	v := run(call{"POST", "/v1/jobs/{ref}/receive", "/v1/jobs/3/receive", "", 200, true, nil})
	o.check(t, o.resolve(t, o.doc["components"].(map[string]any)["schemas"].(map[string]any)["ReceivedTask"]),
		v["tasks"].([]any)[0], "received task", true)
	run(call{"GET", "/v1/wait", "/v1/wait?id=2", "", 200, true, nil})
	code2, _ := b.do(t, "DELETE", "/v1/jobs/1", "")
	require.Equal(t, 409, code2)
	run(call{"DELETE", "/v1/jobs/{id}", "/v1/jobs/2", "", 204, false, nil})

	b.sched.workers = []WorkerStatus{{Heartbeat: dispatch.Heartbeat{Worker: "w", Host: "h", Pool: "p", Slots: 1,
		Labels: map[string]string{"a": "b"}, Version: "v", Running: []dispatch.TaskKey{{Job: 1, Index: 1, Attempt: 1}}, Time: now},
		LastSeen: now, Alive: true}}
	v = run(call{"GET", "/v1/workers", "/v1/workers", "", 200, true, nil})
	o.check(t, o.resolve(t, o.doc["components"].(map[string]any)["schemas"].(map[string]any)["WorkerStatus"]),
		v["workers"].([]any)[0], "worker", true)

	// An event with every property, as the events stream sends it.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	sse := b.openEvents(t, sctx, "")
	b.sched.emit(job.Event{Job: 1, Index: 1, Attempt: 1, State: job.Failed, SubState: job.ExitCode(1), ExitCode: &code,
		JobState: job.Failed, JobEnded: true, Removed: true})
	block := sse.next(t)
	for block[0] == ": ping" {
		block = sse.next(t)
	}
	var ev map[string]any
	require.NoError(t, json.Unmarshal([]byte(strings.TrimPrefix(block[1], "data: ")), &ev))
	o.check(t, o.responseSchema(t, "GET", "/v1/events", 200), ev, "event", true)
}
