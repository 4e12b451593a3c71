package dispatch

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/job"
)

func TestClaims(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{DontListen: true})
	server, worker := testConn(t, s, "server"), testWorkerConn(t, s, "w1")
	_, err := server.ServeClaims(t.Context(), func(_ context.Context, cl *Claim) ClaimReply {
		if cl.Job == 1 && cl.Worker == "w1" {
			return ClaimReply{OK: true, Work: &Work{TaskKey: cl.TaskKey}}
		}
		return ClaimReply{Reason: "already claimed"}
	})
	require.NoError(t, err)

	r, err := worker.Claim(t.Context(), &Claim{TaskKey: TaskKey{Job: 1, Attempt: 1}})
	require.NoError(t, err)
	require.True(t, r.OK)
	require.Equal(t, TaskKey{Job: 1, Attempt: 1}, r.Work.TaskKey)
	r, err = worker.Claim(t.Context(), &Claim{TaskKey: TaskKey{Job: 2, Attempt: 1}})
	require.NoError(t, err)
	require.Equal(t, ClaimReply{Reason: "already claimed"}, *r)
}

func TestClaimGivesUpWithContext(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{DontListen: true})
	worker := testWorkerConn(t, s, "w1")
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := worker.Claim(ctx, &Claim{TaskKey: TaskKey{Job: 1, Attempt: 1}})
	require.ErrorContains(t, err, "the server did not answer")
}

// TestEventRetried checks that an event is sent again until the server
// records it: first nobody listens, then the handler fails twice.
func TestEventRetried(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{DontListen: true})
	server, worker := testConn(t, s, "server"), testWorkerConn(t, s, "w1")
	ev := &Event{TaskKey: TaskKey{Job: 3, Attempt: 1}, Worker: "w1", Kind: EventEnded,
		End: &End{State: job.Done, SubState: job.ExitCode(0)}}

	done := make(chan error, 1)
	go func() { _, err := worker.SendEvent(t.Context(), ev); done <- err }()
	time.Sleep(100 * time.Millisecond) // no responders meanwhile

	var calls atomic.Int32
	got := make(chan *Event, 1)
	_, err := server.ServeEvents(t.Context(), func(_ context.Context, e *Event) (*Work, error) {
		if calls.Add(1) <= 2 {
			return nil, errors.New("store busy")
		}
		got <- e
		return nil, nil
	})
	require.NoError(t, err)
	require.NoError(t, <-done)
	require.EqualValues(t, 3, calls.Load())
	e := <-got
	require.Equal(t, ev.TaskKey, e.TaskKey)
	require.Equal(t, job.ExitCode(0), e.End.SubState)
}

// TestEventAcrossServerRestart checks that an event sent while the NATS
// server is down reaches the server once it is back on the same store and
// port, over connections that reconnected on their own.
func TestEventAcrossServerRestart(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{})
	url := s.ClientURL()
	server, worker := testConn(t, s, "server"), testWorkerConn(t, s, "w1")
	got := make(chan *Event, 10)
	_, err := server.ServeEvents(t.Context(), func(_ context.Context, e *Event) (*Work, error) {
		got <- e
		return nil, nil
	})
	require.NoError(t, err)
	pub := NewPublisher(server)
	require.NoError(t, pub.PublishWork(t.Context(), testWork(9, "")))

	reconnected := make(chan struct{}, 1)
	remove := worker.OnReconnect(func() { reconnected <- struct{}{} })
	defer remove()

	s.Shutdown()
	done := make(chan error, 1)
	go func() {
		_, err := worker.SendEvent(t.Context(), &Event{TaskKey: TaskKey{Job: 9, Attempt: 1}, Kind: EventStarted})
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	require.False(t, worker.NATS().IsConnected())
	require.NoError(t, s.Start(t.Context()))
	require.Equal(t, url, s.ClientURL(), "same port after restart")

	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("event not delivered after the restart")
	}
	require.Equal(t, EventStarted, (<-got).Kind)
	<-reconnected
	require.EqualValues(t, 1, streamMsgs(t, server), "the file store kept the work")
}

func TestControl(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{DontListen: true})
	server, worker := testConn(t, s, "server"), testConn(t, s, "worker")
	_, err := worker.ServeControl(t.Context(), "w1", func(_ context.Context, c *Control) ControlReply {
		if c.Job != 1 {
			return ControlReply{Error: "no such task"}
		}
		return ControlReply{OK: c.Action == job.Suspend}
	})
	require.NoError(t, err)

	r, err := server.Control(t.Context(), "w1", &Control{TaskKey: TaskKey{Job: 1, Attempt: 1}, Action: job.Suspend})
	require.NoError(t, err)
	require.True(t, r.OK)
	r, err = server.Control(t.Context(), "w1", &Control{TaskKey: TaskKey{Job: 2, Attempt: 1}, Action: job.Suspend})
	require.NoError(t, err)
	require.Equal(t, "no such task", r.Error)
}

func TestControlMissingWorker(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{DontListen: true})
	server := testConn(t, s, "server")
	start := time.Now()
	_, err := server.Control(t.Context(), "gone", &Control{TaskKey: TaskKey{Job: 1, Attempt: 1}, Action: job.Terminate})
	require.ErrorContains(t, err, "worker gone")
	require.ErrorContains(t, err, "did not answer")
	require.Less(t, time.Since(start), time.Second, "no responders is known at once")
}

func TestHeartbeats(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{DontListen: true})
	server := testConn(t, s, "server")
	worker := testWorkerConn(t, s, "w1")
	got := make(chan *Heartbeat, 1)
	sub, err := server.ServeHeartbeats(t.Context(), func(hb *Heartbeat) HeartbeatReply {
		got <- hb
		return HeartbeatReply{OK: true, Lease: job.Duration(LeasePeriod), Drop: hb.Running}
	})
	require.NoError(t, err)
	r, err := worker.Heartbeat(t.Context(), &Heartbeat{Running: []TaskKey{{Job: 1}}})
	require.NoError(t, err)
	require.Equal(t, []TaskKey{{Job: 1}}, r.Drop)
	require.EqualValues(t, LeasePeriod, r.Lease)
	hb := <-got
	require.Equal(t, "w1", hb.Worker, "the identity is the subject's")
	require.Len(t, hb.Running, 1)

	// A heartbeat naming another worker than its sender is refused.
	err = worker.request(t.Context(), workerSubject("w1", kindHeartbeat), &Heartbeat{Worker: "w2"}, &r)
	require.NoError(t, err)
	require.False(t, r.OK)
	require.Contains(t, r.Error, "names worker w2")
	require.NoError(t, sub.Unsubscribe())
}

// TestEventBatches checks that events arriving while the handler is busy
// reach it together, in order, and that each gets its own reply.
func TestEventBatches(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{DontListen: true})
	server, worker := testConn(t, s, "server"), testWorkerConn(t, s, "w1")
	entered, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	sub, err := server.ServeEventBatches(t.Context(), func(_ context.Context, evs []*Event) []EventResult {
		mu.Lock()
		sizes = append(sizes, len(evs))
		n := len(sizes)
		mu.Unlock()
		if n == 1 {
			close(entered)
			<-release // the others queue up meanwhile
		}
		res := make([]EventResult, len(evs))
		for i, e := range evs {
			if e.Index == 3 {
				res[i].Err = errors.New("not this one")
				continue
			}
			res[i].Next = &Work{TaskKey: TaskKey{Job: e.Job, Index: e.Index + 100, Attempt: 1}}
		}
		return res
	})
	require.NoError(t, err)

	type answer struct {
		r   *EventReply
		err error
	}
	send := func(i int) <-chan answer {
		ch := make(chan answer, 1)
		go func() {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			r, err := worker.SendEvent(ctx, &Event{TaskKey: TaskKey{Job: 1, Index: i, Attempt: 1}, Kind: EventStarted})
			ch <- answer{r, err}
		}()
		return ch
	}
	first := send(0)
	<-entered
	answers := make([]<-chan answer, 5)
	for i := range answers {
		answers[i] = send(i + 1)
	}
	require.Eventually(t, func() bool { n, _, _ := sub.Pending(); return n == len(answers) }, 5*time.Second, 5*time.Millisecond)
	close(release)
	a := <-first
	require.NoError(t, a.err)
	require.Equal(t, 100, a.r.Next.Index)
	for i, ch := range answers {
		a := <-ch
		if i+1 == 3 {
			require.Error(t, a.err, "a failed event is not acknowledged")
			continue
		}
		require.NoError(t, a.err)
		require.Equal(t, i+1+100, a.r.Next.Index, "each event gets its own reply")
	}
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, 5, sizes[1], "the events that arrived meanwhile come together: %v", sizes)
}
