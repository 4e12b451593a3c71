package worker

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/executor/process"
	"github.com/berth-run/berth/job"
)

// fakeServer plays the server's side: it grants claims and records events.
type fakeServer struct {
	conn   *dispatch.Conn
	pub    *dispatch.Publisher
	events chan *dispatch.Event
	// pending is an event next returned early (see next).
	pending *dispatch.Event
	// evSub serves events in serveCtx.
	evSub    *nats.Subscription
	serveCtx context.Context

	mu         sync.Mutex
	refuse     map[int64]string // job → reason its claims are refused
	failEvents int              // replies to fail before recording events
	onEnded    func(*dispatch.Event)
	claims     []dispatch.TaskKey
	held       int // claimed, end not yet recorded
	maxHeld    int
	works      map[dispatch.TaskKey]*dispatch.Work // published, for claims' replies
	beats      chan *dispatch.Heartbeat            // every heartbeat, if set
	silent     bool                                // heartbeats go unanswered
	lease      time.Duration                       // granted; defaults to dispatch.LeasePeriod
	drop       []dispatch.TaskKey                  // told to drop, if held
}

func (f *fakeServer) heartbeat(hb *dispatch.Heartbeat) dispatch.HeartbeatReply {
	f.mu.Lock()
	silent, beats, lease := f.silent, f.beats, f.lease
	var drop []dispatch.TaskKey
	for _, k := range f.drop {
		if slices.Contains(hb.Running, k) {
			drop = append(drop, k)
		}
	}
	f.mu.Unlock()
	if beats != nil {
		select {
		case beats <- hb:
		default:
		}
	}
	if silent {
		return dispatch.HeartbeatReply{Error: "not answering"}
	}
	return dispatch.HeartbeatReply{OK: true, Lease: job.Duration(cmp.Or(lease, dispatch.LeasePeriod)), Drop: drop}
}

func (f *fakeServer) claim(_ context.Context, c *dispatch.Claim) dispatch.ClaimReply {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.refuse[c.Job]; ok {
		return dispatch.ClaimReply{Reason: r}
	}
	f.claims = append(f.claims, c.TaskKey)
	f.held++
	f.maxHeld = max(f.maxHeld, f.held)
	return dispatch.ClaimReply{OK: true, Work: f.works[c.TaskKey]}
}

func (f *fakeServer) event(_ context.Context, ev *dispatch.Event) (*dispatch.Work, error) {
	f.mu.Lock()
	if f.failEvents > 0 {
		f.failEvents--
		f.mu.Unlock()
		return nil, errors.New("store unavailable")
	}
	if ev.Kind == dispatch.EventEnded {
		f.held--
	}
	onEnded := f.onEnded
	f.mu.Unlock()
	if ev.Kind == dispatch.EventEnded && onEnded != nil {
		onEnded(ev)
	}
	f.events <- ev
	return nil, nil
}

// next returns the next recorded event, which must be of kind. A started
// event may have been folded into the ended event that follows (a task that
// ended before its started event went out): asked for started, next then
// returns that ended event and keeps it for the next call.
func (f *fakeServer) next(t *testing.T, kind dispatch.EventKind) *dispatch.Event {
	t.Helper()
	var ev *dispatch.Event
	if f.pending != nil {
		ev, f.pending = f.pending, nil
	} else {
		select {
		case ev = <-f.events:
		case <-time.After(15 * time.Second):
			t.Fatalf("no %s event", kind)
			return nil
		}
	}
	if kind == dispatch.EventStarted && ev.Kind == dispatch.EventEnded && ev.PID != 0 {
		f.pending = ev
		return ev
	}
	require.Equal(t, kind, ev.Kind, "event %+v", ev)
	return ev
}

func (f *fakeServer) publish(t *testing.T, w *dispatch.Work) {
	t.Helper()
	f.mu.Lock()
	f.works[w.TaskKey] = w
	f.mu.Unlock()
	require.NoError(t, f.pub.PublishWork(t.Context(), w))
}

func (f *fakeServer) streamMsgs(t *testing.T) uint64 {
	t.Helper()
	s, err := f.conn.JetStream().Stream(t.Context(), dispatch.StreamWork)
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	return info.State.Msgs
}

type testBundle struct {
	nats   *dispatch.Server
	fake   *fakeServer
	conn   *dispatch.Conn // the worker's
	worker *Worker
	cancel context.CancelFunc
	done   chan error // Run's result
	dir    string     // for task directories
}

// setup starts NATS, a fake server and a worker with the process executor;
// change modifies the worker's config first. The fake server is created
// before the worker runs, so tests can set its fields after setup.
func setup(t *testing.T, change func(*Config)) *testBundle {
	t.Helper()
	ns, err := dispatch.NewServer(dispatch.ServerConfig{StoreDir: t.TempDir(), DontListen: true})
	require.NoError(t, err)
	require.NoError(t, ns.Start(t.Context()))
	t.Cleanup(ns.Shutdown)

	ctx, cancelConnect := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancelConnect()
	sc, err := dispatch.Connect(ctx, ns.ConnectConfig("server"))
	require.NoError(t, err)
	t.Cleanup(sc.Close)
	require.NoError(t, dispatch.EnsureStreams(ctx, sc.JetStream()))
	// The fake serves until after the worker stopped (cleanups run last
	// first), unlike t.Context(), which ends before any cleanup.
	serveCtx, stopServing := context.WithCancel(context.Background())
	t.Cleanup(stopServing)
	fake := &fakeServer{conn: sc, pub: dispatch.NewPublisher(sc), events: make(chan *dispatch.Event, 100),
		refuse: map[int64]string{}, works: map[dispatch.TaskKey]*dispatch.Work{}}
	require.NoError(t, dispatch.EnsureWorkConsumer(ctx, sc.JetStream(), job.PoolDefault))
	_, err = sc.ServeClaims(serveCtx, fake.claim)
	require.NoError(t, err)
	_, err = sc.ServeHeartbeats(serveCtx, fake.heartbeat)
	require.NoError(t, err)
	fake.evSub, err = sc.ServeEvents(serveCtx, fake.event)
	require.NoError(t, err)
	fake.serveCtx = serveCtx

	wcfg := ns.ConnectConfig("worker")
	wcfg.Worker = "w1"
	wc, err := dispatch.Connect(ctx, wcfg)
	require.NoError(t, err)
	t.Cleanup(wc.Close)
	cfg := Config{ID: "w1", Slots: 2, Conn: wc, Executor: process.New(process.Config{}), StopGrace: time.Second}
	if change != nil {
		change(&cfg)
	}
	w, err := New(cfg)
	require.NoError(t, err)

	b := &testBundle{nats: ns, fake: fake, conn: wc, worker: w, done: make(chan error, 1), dir: t.TempDir()}
	return b
}

// run starts the worker; it is stopped at the end of the test.
func (b *testBundle) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	go func() { b.done <- b.worker.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-b.done:
		case <-time.After(20 * time.Second):
			t.Error("worker did not stop")
		}
	})
}

// stop cancels the worker and returns Run's result.
func (b *testBundle) stop(t *testing.T) error {
	t.Helper()
	b.cancel()
	select {
	case err := <-b.done:
		b.done <- err // for the cleanup
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("worker did not stop")
		return nil
	}
}

// work returns work running argv in a task directory under b.dir.
func (b *testBundle) work(jobID int64, argv ...string) *dispatch.Work {
	return &dispatch.Work{
		TaskKey:  dispatch.TaskKey{Job: jobID, Attempt: 1},
		Template: job.Template{Command: argv[0], Args: argv[1:]},
		Dir:      b.dir + "/" + dispatch.TaskKey{Job: jobID, Attempt: 1}.String(),
	}
}

func (b *testBundle) control(t *testing.T, c *dispatch.Control) *dispatch.ControlReply {
	t.Helper()
	r, err := b.fake.conn.Control(t.Context(), b.worker.ID(), c)
	require.NoError(t, err)
	return r
}

var _ executor.Executor = (*process.Executor)(nil)
