package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/scheduler"
	"github.com/berth-run/berth/store"
	"github.com/stretchr/testify/require"
)

// fakeScheduler records jobs in the real store, as the scheduler does, and
// lets tests set task states, emit events and inject errors.
type fakeScheduler struct {
	st *store.Store

	mu         sync.Mutex
	subs       map[int]chan job.Event
	nextSub    int
	seq        uint64
	controlErr error
	submitErr  error
	controls   []string
	workers    []WorkerStatus
}

// SubmitOpenJD is tested against the real scheduler (e2e).
func (f *fakeScheduler) SubmitOpenJD(context.Context, *job.OpenJDJob, job.Spec, []scheduler.OpenJDStepSpec) (int64, []int64, error) {
	return 0, nil, errors.New("the fake scheduler takes no OpenJD jobs")
}

func (f *fakeScheduler) Submit(ctx context.Context, spec job.Spec) (int64, error) {
	f.mu.Lock()
	err := f.submitErr
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if err := spec.Validate(); err != nil {
		return 0, err
	}
	p := &store.JobInsertParams{Spec: spec.WithDefaults(), SubmittedAt: time.Now(), State: job.Queued}
	if spec.Hold {
		p.State, p.SubState = job.QueuedHeld, job.SubState{Kind: job.ReasonHeld}
	}
	return f.st.JobInsert(ctx, p)
}

func (f *fakeScheduler) Control(ctx context.Context, ref job.Ref, action job.Action) (int, error) {
	return f.ControlStop(ctx, ref, action, scheduler.StopOptions{})
}

func (f *fakeScheduler) ControlStop(ctx context.Context, ref job.Ref, action job.Action, opts scheduler.StopOptions) (int, error) {
	f.mu.Lock()
	err := f.controlErr
	c := string(action) + " " + ref.String()
	if opts.Grace != nil {
		c += " grace=" + opts.Grace.String()
	}
	if opts.Signal != "" {
		c += " signal=" + opts.Signal
	}
	f.controls = append(f.controls, c)
	f.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if ref.HasIndex {
		if _, err := f.st.TaskGet(ctx, ref.Job, ref.Index); err != nil {
			return 0, err
		}
		return 1, nil
	}
	j, err := f.st.JobGet(ctx, ref.Job)
	if err != nil {
		return 0, err
	}
	return j.TaskCount, nil
}

func (f *fakeScheduler) Remove(ctx context.Context, id int64, force bool) error {
	j, err := f.st.JobGet(ctx, id)
	if err != nil {
		return err
	}
	if !force && !j.State.Terminal() {
		return job.ErrInvalidState
	}
	if err := f.st.JobDelete(ctx, id); err != nil {
		return err
	}
	f.emit(job.Event{Job: id, State: j.State, JobState: j.State, Removed: true})
	return nil
}

func (f *fakeScheduler) Subscribe(buf int) (<-chan job.Event, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.subs == nil {
		f.subs = map[int]chan job.Event{}
	}
	ch := make(chan job.Event, buf)
	n := f.nextSub
	f.nextSub++
	f.subs[n] = ch
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		if c, ok := f.subs[n]; ok {
			delete(f.subs, n)
			close(c)
		}
	}
}

func (f *fakeScheduler) Workers() []WorkerStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.workers
}

func (f *fakeScheduler) Stats() []scheduler.PoolStats { return nil }

// JobTasks leaves the counts to the store.
func (f *fakeScheduler) JobTasks(int64) (map[job.State]int, bool) { return nil, false }

func (f *fakeScheduler) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// emit sends ev to every subscriber; one that is full is dropped.
func (f *fakeScheduler) emit(ev job.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	ev.Seq = f.seq
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	for n, ch := range f.subs {
		select {
		case ch <- ev:
		default:
			delete(f.subs, n)
			close(ch)
		}
	}
}

// dropSubscribers closes every subscription, as the scheduler does to one
// that fell behind.
func (f *fakeScheduler) dropSubscribers() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for n, ch := range f.subs {
		delete(f.subs, n)
		close(ch)
	}
}

// setState moves a task to state in the store and emits its event.
func (f *fakeScheduler) setState(t *testing.T, id int64, index int, state job.State) {
	t.Helper()
	ctx := context.Background()
	task, err := f.st.TaskGet(ctx, id, index)
	require.NoError(t, err)
	task.State = state
	if state.Terminal() {
		code := 0
		if state == job.Failed {
			code = 1
		}
		task.ExitCode = &code
		task.SubState = job.ExitCode(code)
	}
	require.NoError(t, f.st.TasksPut(ctx, []*job.Task{task}, time.Now()))
	j, err := f.st.JobGet(ctx, id)
	require.NoError(t, err)
	f.emit(job.Event{Job: id, Index: index, Attempt: task.Attempt, State: state, SubState: task.SubState,
		ExitCode: task.ExitCode, JobState: j.State, JobEnded: j.State.Terminal()})
}

type testBundle struct {
	srv   *Server
	sched *fakeScheduler
	st    *store.Store
	dir   datadir.Dir
	ts    *httptest.Server
}

func setup(t *testing.T) *testBundle {
	t.Helper()
	return setupIn(t, t.TempDir())
}

// setupIn is setup with the data directory d.
func setupIn(t *testing.T, d string) *testBundle {
	t.Helper()
	return setupWith(t, d, nil)
}

// setupWith is setupIn with the server's config changed by edit.
func setupWith(t *testing.T, d string, edit func(*Config)) *testBundle {
	t.Helper()
	dir := datadir.Dir(d)
	require.NoError(t, dir.Ensure())
	st, err := store.Open(context.Background(), store.Config{Path: dir.DB(), Sync: "normal"})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	sched := &fakeScheduler{st: st}
	cfg := Config{DataDir: dir, Store: st, Scheduler: sched, ServerID: "test-server", Version: "1.2.3",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg)
	require.NoError(t, err)
	srv.pingInterval = 50 * time.Millisecond
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.ConnContext = connOwner // as Serve does: TCP, owner "token"
	ts.Start()
	t.Cleanup(ts.Close)
	return &testBundle{srv: srv, sched: sched, st: st, dir: dir, ts: ts}
}

// do sends a request and returns the status and body.
func (b *testBundle) do(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.ts.URL+path, rd)
	require.NoError(t, err)
	resp, err := b.ts.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out
}

// doJSON sends a request, checks the status and decodes the answer into out.
func (b *testBundle) doJSON(t *testing.T, method, path, body string, status int, out any) {
	t.Helper()
	code, data := b.do(t, method, path, body)
	require.Equal(t, status, code, "answer: %s", data)
	if out != nil {
		require.NoError(t, json.Unmarshal(data, out), "answer: %s", data)
	}
}

type errBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field"`
	} `json:"error"`
}

// requireError checks an error answer's status, code, field and message.
func (b *testBundle) requireError(t *testing.T, method, path, body string, status int, code, field, msgPart string) {
	t.Helper()
	var e errBody
	b.doJSON(t, method, path, body, status, &e)
	require.Equal(t, code, e.Error.Code)
	require.Equal(t, field, e.Error.Field, "message: %s", e.Error.Message)
	require.Contains(t, e.Error.Message, msgPart)
}

// submit submits a spec and returns the job.
func (b *testBundle) submit(t *testing.T, spec string) *job.Job {
	t.Helper()
	var j job.Job
	b.doJSON(t, "POST", "/v1/jobs", spec, http.StatusCreated, &j)
	return &j
}

// writeOutput appends data to a task's file, creating its directory.
func (b *testBundle) writeOutput(t *testing.T, id int64, index int, name, data string) {
	t.Helper()
	path := b.dir.TaskFile(id, index, name)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	require.NoError(t, err)
	_, err = f.WriteString(data)
	require.NoError(t, err)
	require.NoError(t, f.Close())
}
