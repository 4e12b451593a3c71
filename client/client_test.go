package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
)

// apiError writes the API's error body.
func apiError(w http.ResponseWriter, status int, code, msg, field string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg, "field": field}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fakeAPI is a small stand-in for the server: job 7 exists, nothing else.
func fakeAPI(t *testing.T) *http.ServeMux {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jobs/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "7" {
			apiError(w, 404, "not_found", "no job "+r.PathValue("id"), "")
			return
		}
		writeJSON(w, 200, job.Job{ID: 7, State: job.Running, TaskCount: 1})
	})
	mux.HandleFunc("POST /v1/jobs", func(w http.ResponseWriter, r *http.Request) {
		var spec job.Spec
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&spec); err != nil {
			apiError(w, 400, "invalid", err.Error(), "")
			return
		}
		if spec.Template.Command == "" {
			apiError(w, 400, "invalid", "required", "template.command")
			return
		}
		writeJSON(w, 201, job.Job{ID: 8, Spec: spec, State: job.Queued})
	})
	mux.HandleFunc("POST /v1/jobs/{ref}/{action}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("action") == "release" {
			apiError(w, 409, "invalid_state", "job 7 is not held", "")
			return
		}
		writeJSON(w, 200, map[string]int{"changed": 3})
	})
	return mux
}

func newTCP(t *testing.T, h http.Handler, opts ...Option) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, append([]Option{WithToken("secret")}, opts...)...)
	require.NoError(t, err)
	return c
}

// shortTemp returns a short temporary directory: socket paths are limited
// to about 100 bytes.
func shortTemp(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "bc")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestParseAddr(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, socket, base string }{
		{"unix:///run/berth.sock", "/run/berth.sock", ""},
		{"/run/berth.sock", "/run/berth.sock", ""},
		{"./berth.sock", "./berth.sock", ""},
		{"berth.sock", "berth.sock", ""},
		{"localhost:8080", "", "http://localhost:8080"},
		{"http://10.0.0.1:8080/", "", "http://10.0.0.1:8080"},
		{"https://berth.example:443", "", "https://berth.example:443"},
	} {
		socket, base, err := parseAddr(tc.in)
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.socket, socket, tc.in)
		require.Equal(t, tc.base, base, tc.in)
	}
	for _, bad := range []string{"", "unix://", "ftp://x:1", "http://"} {
		_, _, err := parseAddr(bad)
		require.Error(t, err, bad)
	}
}

func TestNewTCPNeedsToken(t *testing.T) {
	t.Parallel()
	_, err := New("localhost:8080")
	require.ErrorContains(t, err, "needs a token")
	_, err = New("/tmp/berth.sock")
	require.NoError(t, err)
}

func TestFromEnv(t *testing.T) {
	home := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(home, "token"), []byte("tok\n"), 0o600))
	t.Setenv("BERTH_HOME", home)
	t.Setenv("BERTH_TOKEN", "")
	t.Setenv("BERTH_ADDR", "")
	c, err := FromEnv()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(home, "berth.sock"), c.Addr())

	t.Setenv("BERTH_ADDR", "127.0.0.1:9")
	c, err = FromEnv()
	require.NoError(t, err)
	require.Equal(t, "tok", c.token, "token read from the data directory")

	t.Setenv("BERTH_TOKEN", "env")
	c, err = FromEnv()
	require.NoError(t, err)
	require.Equal(t, "env", c.token)
}

func TestErrorsDecoded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newTCP(t, fakeAPI(t))

	_, err := c.Job(ctx, 9)
	require.ErrorIs(t, err, job.ErrNotFound)
	require.EqualError(t, err, "no job 9")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 404, apiErr.Status)

	_, err = c.Submit(ctx, job.Spec{})
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, "template.command", apiErr.Field)
	require.EqualError(t, err, "template.command: required")
	require.EqualError(t, &APIError{Field: "ref", Message: "job 4 is an array"}, "job 4 is an array", "the user named the path's job")
	require.NotErrorIs(t, err, job.ErrNotFound)

	_, err = c.Control(ctx, job.Ref{Job: 7}, job.Release)
	require.ErrorIs(t, err, job.ErrInvalidState)

	n, err := c.Control(ctx, job.Ref{Job: 7, Index: 2, HasIndex: true}, job.Suspend)
	require.NoError(t, err)
	require.Equal(t, 3, n)
}

func TestErrorNotOurFormat(t *testing.T) {
	t.Parallel()
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad gateway", http.StatusBadGateway)
	}))
	_, err := c.Health(context.Background())
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, 502, apiErr.Status)
	require.Contains(t, err.Error(), "502")
}

func TestNoServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sock := filepath.Join(shortTemp(t), "berth.sock")
	c, err := New(sock)
	require.NoError(t, err)
	_, err = c.Health(ctx)
	require.EqualError(t, err, "no berth server at "+sock+"; start one with `berth serve`")
	var ns *NoServerError
	require.ErrorAs(t, err, &ns)

	c, err = New("unix://" + sock)
	require.NoError(t, err)
	_, err = c.Health(ctx)
	require.EqualError(t, err, "no berth server at "+sock+"; start one with `berth serve`")

	// A TCP port nobody listens on: take one, then close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	c, err = New(addr, WithToken("t"))
	require.NoError(t, err)
	_, err = c.Jobs(ctx, ListParams{})
	require.EqualError(t, err, "no berth server at "+addr+"; start one with `berth serve`")
}

func TestTokenSent(t *testing.T) {
	t.Parallel()
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret" {
			apiError(w, 401, "unauthorized", "bad token", "")
			return
		}
		writeJSON(w, 200, api.Health{OK: true, Version: "v1"})
	}))
	h, err := c.Health(context.Background())
	require.NoError(t, err)
	require.True(t, h.OK)

	wrong, err := New(c.base, WithToken("nope"))
	require.NoError(t, err)
	_, err = wrong.Health(context.Background())
	require.ErrorIs(t, err, ErrUnauthorized)
}

func TestUnixSocket(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	sock := filepath.Join(shortTemp(t), "berth.sock")
	l, err := net.Listen("unix", sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: fakeAPI(t)}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })

	c, err := New("unix://" + sock)
	require.NoError(t, err)
	j, err := c.Submit(ctx, job.Spec{Name: "x", Template: job.Template{Command: "echo", Args: []string{"hi"}}})
	require.NoError(t, err)
	require.Equal(t, int64(8), j.ID)
	require.Equal(t, []string{"hi"}, j.Template.Args)

	j, err = c.Job(ctx, 7)
	require.NoError(t, err)
	require.Equal(t, job.Running, j.State)
	_, err = c.Job(ctx, 70)
	require.ErrorIs(t, err, job.ErrNotFound)
}

func TestJobsAllPages(t *testing.T) {
	t.Parallel()
	var queries []string
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		after, _ := strconv.ParseInt(r.URL.Query().Get("after_id"), 10, 64)
		var page api.JobPage
		for id := after + 1; id <= after+2 && id <= 5; id++ {
			page.Jobs = append(page.Jobs, &job.Job{ID: id})
		}
		if after+2 < 5 {
			page.NextAfterID = after + 2
		}
		writeJSON(w, 200, page)
	}))
	var ids []int64
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for j, err := range c.JobsAll(context.Background(), ListParams{States: []job.State{job.Done, job.Failed}, Since: since, Limit: 2}) {
		require.NoError(t, err)
		ids = append(ids, j.ID)
	}
	require.Equal(t, []int64{1, 2, 3, 4, 5}, ids)
	require.Len(t, queries, 3)
	require.Equal(t, "limit=2&since=2026-01-02T03%3A04%3A05Z&state=Done&state=Failed", queries[0])
	require.Contains(t, queries[2], "after_id=4")
}

func TestTasksAllPages(t *testing.T) {
	t.Parallel()
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v1/jobs/3/tasks", r.URL.Path)
		after, _ := strconv.Atoi(r.URL.Query().Get("after_index"))
		page := api.TaskPage{NextAfterIndex: -1}
		for i := after + 1; i <= after+2 && i <= 4; i++ {
			page.Tasks = append(page.Tasks, &job.Task{JobID: 3, Index: i})
		}
		if after+2 < 4 {
			page.NextAfterIndex = after + 2
		}
		writeJSON(w, 200, page)
	}))
	var idx []int
	for tk, err := range c.TasksAll(context.Background(), 3, TaskParams{}) {
		require.NoError(t, err)
		idx = append(idx, tk.Index)
	}
	require.Equal(t, []int{0, 1, 2, 3, 4}, idx)
}

func TestTaskHistory(t *testing.T) {
	t.Parallel()
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v1/tasks/7.3", r.URL.Path)
		code := 0
		writeJSON(w, 200, map[string]any{
			"job_id": 7, "index": 3, "state": "Done", "substate": job.ExitCode(0),
			"exit_code": code, "attempt": 1, "submitted_at": time.Now(),
			"history": []api.Transition{{Attempt: 0, State: job.Queued}, {Attempt: 1, State: job.Running}, {Attempt: 1, State: job.Done}},
		})
	}))
	td, err := c.Task(context.Background(), job.Ref{Job: 7, Index: 3, HasIndex: true})
	require.NoError(t, err)
	require.Equal(t, job.Done, td.State)
	require.Equal(t, 0, *td.ExitCode)
	require.Len(t, td.History, 3)
}

func TestLogsAndResults(t *testing.T) {
	t.Parallel()
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/tasks/7/logs":
			q := r.URL.Query()
			require.Equal(t, "stderr", q.Get("stream"))
			require.Equal(t, "5", q.Get("offset"))
			require.Equal(t, "true", q.Get("follow"))
			for i := range 3 {
				_, _ = io.WriteString(w, "line "+strconv.Itoa(i)+"\n")
				w.(http.Flusher).Flush()
			}
		case "/v1/tasks/7/results":
			_, _ = io.WriteString(w, `{"results": [{"a": 1}, "text", 3]}`)
		}
	}))
	ctx := context.Background()
	rc, err := c.Logs(ctx, job.Ref{Job: 7}, LogsParams{Stream: Stderr, Offset: 5, Follow: true})
	require.NoError(t, err)
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	require.Equal(t, "line 0\nline 1\nline 2\n", string(b))

	res, err := c.Results(ctx, job.Ref{Job: 7})
	require.NoError(t, err)
	require.Len(t, res, 3)
	require.JSONEq(t, `{"a":1}`, string(res[0]))
}

func TestReceive(t *testing.T) {
	t.Parallel()
	var paths []string
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
		if r.URL.Path == "/v1/jobs/9/receive" {
			apiError(w, 404, "not_found", "no job 9", "")
			return
		}
		_, _ = io.WriteString(w, `{"tasks": [{"ref": "7.1", "state": "Done", "exit_code": 0, "stdout": "out", "stderr": "", "results": [1]}]}`)
	}))
	got, err := c.Receive(context.Background(), []job.Ref{{Job: 7}, {Job: 9}}, true)
	require.ErrorIs(t, err, job.ErrNotFound)
	require.Len(t, got, 1)
	require.Equal(t, "7.1", got[0].Ref)
	require.Equal(t, "out", got[0].Stdout)
	require.Equal(t, []string{"POST /v1/jobs/7/receive?keep=true", "POST /v1/jobs/9/receive?keep=true"}, paths)
}

func TestWait(t *testing.T) {
	t.Parallel()
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/v1/wait", r.URL.Path)
		require.Equal(t, "any=true&id=1&id=2&timeout=1m30s", r.URL.RawQuery)
		writeJSON(w, 200, api.WaitResult{Jobs: []*job.Job{{ID: 1, State: job.Done}, {ID: 2, State: job.Running}}})
	}))
	res, err := c.Wait(context.Background(), []int64{1, 2}, true, 90*time.Second)
	require.NoError(t, err)
	require.False(t, res.TimedOut)
	require.Len(t, res.Jobs, 2)
}

func TestEventsSSE(t *testing.T) {
	t.Parallel()
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "job=4", r.URL.RawQuery)
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, ": ping\n\n")
		_, _ = io.WriteString(w, "event: task\ndata: {\"seq\":1,\"job\":4,\"index\":0,\"state\":\"Running\",\"job_state\":\"Running\"}\n\n")
		_, _ = io.WriteString(w, "event: other\ndata: {}\n\n")
		// data split over two lines, CRLF endings.
		_, _ = io.WriteString(w, "event: task\r\ndata: {\"seq\":2,\"job\":4,\r\ndata: \"state\":\"Done\",\"job_state\":\"Done\",\"job_ended\":true}\r\n\r\n")
		// The last event lacks its blank line.
		_, _ = io.WriteString(w, "data: {\"seq\":3,\"job\":4,\"removed\":true}\n")
	}))
	s, err := c.Events(context.Background(), []int64{4})
	require.NoError(t, err)
	defer s.Close()
	var got []job.Event
	for ev, err := range s.All() {
		require.NoError(t, err)
		got = append(got, ev)
	}
	require.Len(t, got, 3)
	require.Equal(t, job.Running, got[0].State)
	require.True(t, got[1].JobEnded)
	require.Equal(t, job.Done, got[1].JobState)
	require.True(t, got[2].Removed)
	_, err = s.Recv()
	require.ErrorIs(t, err, io.EOF)
}

func TestEventsCanceled(t *testing.T) {
	t.Parallel()
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, ": ping\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	ctx, cancel := context.WithCancel(context.Background())
	s, err := c.Events(ctx, nil)
	require.NoError(t, err)
	defer s.Close()
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = s.Recv()
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
}

func TestWorkersAndRemove(t *testing.T) {
	t.Parallel()
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method + " " + r.URL.Path {
		case "GET /v1/workers":
			_, _ = io.WriteString(w, `{"workers": [{"worker": "w1", "host": "h", "pool": "default", "slots": 4, "version": "v", "running": [{"job": 1, "index": 0, "attempt": 1}], "time": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z", "alive": true}]}`)
		case "DELETE /v1/jobs/5":
			if r.URL.Query().Get("force") != "true" {
				apiError(w, 409, "invalid_state", "job 5 has not ended", "")
				return
			}
			w.WriteHeader(204)
		}
	}))
	ctx := context.Background()
	ws, err := c.Workers(ctx)
	require.NoError(t, err)
	require.Len(t, ws, 1)
	require.Equal(t, 4, ws[0].Slots)
	require.Equal(t, int64(1), ws[0].Running[0].Job)
	require.ErrorIs(t, c.Remove(ctx, 5, false), job.ErrInvalidState)
	require.NoError(t, c.Remove(ctx, 5, true))
}

// TestWaitRidesOutRestart: a server that shuts down while a wait runs is
// asked again until it answers.
func TestWaitRidesOutRestart(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{"error": map[string]string{"code": api.CodeUnavailable, "message": "the server is shutting down"}})
			return
		}
		writeJSON(w, 200, api.WaitResult{Jobs: []*job.Job{{ID: 1, State: job.Done}}})
	}))
	res, err := c.Wait(context.Background(), []int64{1}, false, 0)
	require.NoError(t, err)
	require.Equal(t, job.Done, res.Jobs[0].State)
	require.EqualValues(t, 3, calls.Load())
}

// TestNotABerthServer: a wrong address says what answered there.
func TestNotABerthServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "nginx/1.25")
		if r.Method == http.MethodGet && r.URL.Path == "/v1/jobs" {
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<html>welcome</html>")
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(web.Close)
	c, err := New(web.URL, WithToken("t"))
	require.NoError(t, err)
	_, err = c.Job(ctx, 9)
	require.EqualError(t, err, "not a berth server at "+web.URL+": it answered 404 Not Found from nginx/1.25: 404 page not found")
	require.NotErrorIs(t, err, job.ErrNotFound, "not an answer about job 9")
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.True(t, apiErr.Foreign)
	_, err = c.Jobs(ctx, ListParams{})
	require.EqualError(t, err, "not a berth server at "+web.URL+": it answered 200 OK from nginx/1.25 with text/html")

	// Not HTTP at all.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			// Answer once asked (an SSH server speaks first, which the
			// transport may see as an unsolicited answer on an idle
			// connection: also not HTTP, but worded less well).
			_, _ = bufio.NewReader(conn).ReadString('\n')
			_, _ = io.WriteString(conn, "SSH-2.0-OpenSSH_9.6\r\n")
			conn.Close()
		}
	}()
	c, err = New(l.Addr().String(), WithToken("t"))
	require.NoError(t, err)
	_, err = c.Health(ctx)
	require.EqualError(t, err, "not a berth server at "+l.Addr().String()+`: it does not speak HTTP; it answered "SSH-2.0-OpenSSH_9.6"`)
	var ns *NoServerError
	require.ErrorAs(t, err, &ns)

	// HTTPS to plain HTTP.
	c, err = New("https://"+strings.TrimPrefix(web.URL, "http://"), WithToken("t"))
	require.NoError(t, err)
	_, err = c.Health(ctx)
	require.ErrorContains(t, err, "it speaks plain HTTP, not HTTPS: use http://")
}

// TestStartingServer: a server that answers "starting" is asked again, the
// body sent whole each time, until it is ready; the notice is told once.
func TestStartingServer(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var bodies []string
	n := 0
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		n++
		first := n <= 3
		mu.Unlock()
		if first {
			apiError(w, 503, api.CodeStarting, "the server is starting", "")
			return
		}
		writeJSON(w, 201, job.Job{ID: 1})
	}), WithNotice(func(msg string) {
		mu.Lock()
		bodies = append(bodies, "notice: "+msg)
		mu.Unlock()
	}))
	j, err := c.Submit(context.Background(), job.Spec{Template: job.Template{Command: "x"}})
	require.NoError(t, err)
	require.Equal(t, int64(1), j.ID)
	body := `{"template":{"command":"x"}}`
	require.Len(t, bodies, 5)
	require.Equal(t, "notice: berth server at "+c.addr+" is starting; waiting for it", bodies[1])
	for _, b := range slices.Delete(slices.Clone(bodies), 1, 2) {
		require.JSONEq(t, body, b)
	}
}

// TestStartingServerGivesUp: past its start wait the client says the server
// is starting, an error of the no-server kind.
func TestStartingServerGivesUp(t *testing.T) {
	t.Parallel()
	c := newTCP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		apiError(w, 503, api.CodeStarting, "the server is starting", "")
	}), WithStartWait(0))
	_, err := c.Jobs(context.Background(), ListParams{})
	require.EqualError(t, err, "berth server at "+c.addr+" is starting; try again shortly")
	var ns *NoServerError
	require.ErrorAs(t, err, &ns)
	require.True(t, ns.Starting)
}

// TestStartingServerSocket: no socket yet, but the data directory's server
// lock is held: the server is starting, and the client waits for its socket.
func TestStartingServerSocket(t *testing.T) {
	t.Parallel()
	dir := datadir.Dir(shortTemp(t))
	lock, err := os.Create(dir.ServerLock())
	require.NoError(t, err)
	defer lock.Close()
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_EX))
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, api.Health{OK: true, Ready: true})
	}))
	t.Cleanup(srv.Close)
	// The server begins to listen once the client has found it starting.
	c, err := New(dir.Socket(), WithNotice(func(string) {
		l, err := net.Listen("unix", dir.Socket())
		if err == nil {
			srv.Listener = l
			srv.Start()
		}
	}))
	require.NoError(t, err)
	h, err := c.Health(context.Background())
	require.NoError(t, err)
	require.True(t, h.Ready)

	// Without the lock, no socket is no server.
	require.NoError(t, syscall.Flock(int(lock.Fd()), syscall.LOCK_UN))
	c, err = New(filepath.Join(string(dir), "other", "berth.sock"))
	require.NoError(t, err)
	_, err = c.Health(context.Background())
	require.ErrorContains(t, err, "no berth server at")
}
