package worker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
)

func TestRunsTask(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.run(t)
	w := b.work(1, "/bin/sh", "-c", `echo "out $GREETING $BERTH_JOB_ID"; echo err >&2; echo '{"n":1}' > "$BERTH_RESULT"; exit 3`)
	w.Env = map[string]string{"BERTH_JOB_ID": "1", "GREETING": "from berth"}
	w.Template.Env = map[string]string{"GREETING": "from template"}
	b.fake.publish(t, w)

	started := b.fake.next(t, dispatch.EventStarted)
	require.Equal(t, w.TaskKey, started.TaskKey)
	require.Equal(t, "w1", started.Worker)
	require.Positive(t, started.PID)
	ended := b.fake.next(t, dispatch.EventEnded)
	require.Equal(t, job.Failed, ended.End.State)
	require.Equal(t, job.ExitCode(3), ended.End.SubState)
	require.Equal(t, 3, *ended.End.ExitCode)

	out, err := os.ReadFile(filepath.Join(w.Dir, "stdout"))
	require.NoError(t, err)
	require.Equal(t, "out from template 1\n", string(out))
	errOut, err := os.ReadFile(filepath.Join(w.Dir, "stderr"))
	require.NoError(t, err)
	require.Equal(t, "err\n", string(errOut))
	res, err := os.ReadFile(filepath.Join(w.Dir, "result.jsonl"))
	require.NoError(t, err)
	require.JSONEq(t, `{"n":1}`, string(res))
}

func TestRunsTaskDone(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.run(t)
	b.fake.publish(t, b.work(1, "true"))
	b.fake.next(t, dispatch.EventStarted)
	ended := b.fake.next(t, dispatch.EventEnded)
	require.Equal(t, job.Done, ended.End.State)
	require.Equal(t, job.ExitCode(0), ended.End.SubState)
}

func TestStartFailed(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.run(t)
	b.fake.publish(t, b.work(1, "/no/such/program"))
	ended := b.fake.next(t, dispatch.EventEnded)
	require.Equal(t, job.Failed, ended.End.State)
	require.Equal(t, job.ReasonStartFailed, ended.End.SubState.Kind)
	require.Contains(t, ended.End.Message, "/no/such/program")
}

func TestTimeLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.run(t)
	w := b.work(1, "sleep", "30")
	w.Template.TimeLimit = job.Duration(200 * time.Millisecond)
	b.fake.publish(t, w)
	b.fake.next(t, dispatch.EventStarted)
	ended := b.fake.next(t, dispatch.EventEnded)
	require.Equal(t, job.Failed, ended.End.State)
	require.Equal(t, job.SubState{Kind: job.ReasonTimeLimit}, ended.End.SubState)
	require.Equal(t, "SIGTERM", ended.End.Signal)
}

func TestControl(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.run(t)
	w := b.work(1, "sleep", "30")
	b.fake.publish(t, w)
	b.fake.next(t, dispatch.EventStarted)

	r := b.control(t, &dispatch.Control{TaskKey: w.TaskKey, Action: job.Suspend})
	require.True(t, r.OK, r.Error)
	b.fake.next(t, dispatch.EventSuspended)
	r = b.control(t, &dispatch.Control{TaskKey: w.TaskKey, Action: job.Resume})
	require.True(t, r.OK, r.Error)
	b.fake.next(t, dispatch.EventResumed)

	r = b.control(t, &dispatch.Control{TaskKey: dispatch.TaskKey{Job: 99, Attempt: 1}, Action: job.Suspend})
	require.Equal(t, dispatch.ControlReply{Error: "no such task"}, *r)
	r = b.control(t, &dispatch.Control{TaskKey: w.TaskKey, Action: job.Hold})
	require.False(t, r.OK)

	// Terminate a suspended task: it still gets its SIGTERM.
	r = b.control(t, &dispatch.Control{TaskKey: w.TaskKey, Action: job.Suspend})
	require.True(t, r.OK, r.Error)
	b.fake.next(t, dispatch.EventSuspended)
	r = b.control(t, &dispatch.Control{TaskKey: w.TaskKey, Action: job.Terminate,
		Reason: job.ReasonCanceled, Grace: job.Duration(time.Second)})
	require.True(t, r.OK, r.Error)
	ended := b.fake.next(t, dispatch.EventEnded)
	require.Equal(t, job.Failed, ended.End.State)
	require.Equal(t, job.SubState{Kind: job.ReasonCanceled}, ended.End.SubState)
	require.Equal(t, "SIGTERM", ended.End.Signal)
}

func TestRefusedClaimNeverStarts(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.fake.refuse[1] = "already ended"
	b.run(t)
	refused := b.work(1, "touch", "ran")
	b.fake.publish(t, refused)
	b.fake.publish(t, b.work(2, "true"))

	// Job 2 runs; job 1 never does, and its work is dropped.
	require.Equal(t, int64(2), b.fake.next(t, dispatch.EventStarted).Job)
	require.Equal(t, int64(2), b.fake.next(t, dispatch.EventEnded).Job)
	require.Eventually(t, func() bool { return b.fake.streamMsgs(t) == 0 }, 5*time.Second, 10*time.Millisecond)
	require.NoDirExists(t, refused.Dir)
	select {
	case ev := <-b.fake.events:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

// TestAckAfterEnded checks the work stays in the stream until the server
// answered the ended event.
func TestAckAfterEnded(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	inStream := make(chan uint64, 1)
	b.fake.onEnded = func(*dispatch.Event) { inStream <- b.fake.streamMsgs(t) }
	b.run(t)
	b.fake.publish(t, b.work(1, "true"))
	b.fake.next(t, dispatch.EventStarted)
	b.fake.next(t, dispatch.EventEnded)
	require.EqualValues(t, 1, <-inStream, "acked before the end was recorded")
	require.Eventually(t, func() bool { return b.fake.streamMsgs(t) == 0 }, 5*time.Second, 10*time.Millisecond)
}

// TestEventRetried checks events are sent again until the server records
// them, and the work stays held meanwhile.
func TestEventRetried(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.fake.failEvents = 3
	b.run(t)
	b.fake.publish(t, b.work(1, "true"))
	b.fake.next(t, dispatch.EventStarted)
	b.fake.next(t, dispatch.EventEnded)
	require.Eventually(t, func() bool { return b.fake.streamMsgs(t) == 0 }, 5*time.Second, 10*time.Millisecond)
}

// TestEventRetriedNoResponder checks events are sent again while nobody
// serves them (the server restarting), and recorded once it is back; the
// worker holds the work meanwhile.
func TestEventRetriedNoResponder(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	require.NoError(t, b.fake.evSub.Unsubscribe())
	b.run(t)
	b.fake.publish(t, b.work(1, "true"))
	require.Eventually(t, func() bool { return len(b.worker.heartbeat().Running) == 1 }, 5*time.Second, 10*time.Millisecond)
	time.Sleep(300 * time.Millisecond) // a few unanswered tries
	require.EqualValues(t, 1, b.fake.streamMsgs(t))

	_, err := b.fake.conn.ServeEvents(b.fake.serveCtx, b.fake.event)
	require.NoError(t, err)
	b.fake.next(t, dispatch.EventStarted)
	b.fake.next(t, dispatch.EventEnded)
	require.Eventually(t, func() bool { return b.fake.streamMsgs(t) == 0 }, 5*time.Second, 10*time.Millisecond)
	require.Empty(t, b.worker.heartbeat().Running)
}

// TestSlots checks the worker holds no more tasks than it has slots.
func TestSlots(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Slots = 2 })
	b.run(t)
	for i := range 10 {
		b.fake.publish(t, b.work(int64(i+1), "sleep", "0.05"))
	}
	ended := 0
	for ended < 10 {
		select {
		case ev := <-b.fake.events:
			if ev.Kind == dispatch.EventEnded {
				require.Equal(t, job.Done, ev.End.State)
				ended++
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("only %d of 10 tasks ended", ended)
		}
	}
	b.fake.mu.Lock()
	defer b.fake.mu.Unlock()
	require.Len(t, b.fake.claims, 10)
	require.LessOrEqual(t, b.fake.maxHeld, 2)
	require.Equal(t, 2, b.fake.maxHeld, "both slots used")
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.run(t)
	b.fake.publish(t, b.work(1, "sleep", "30"))
	b.fake.publish(t, b.work(2, "sleep", "30"))
	b.fake.next(t, dispatch.EventStarted)
	b.fake.next(t, dispatch.EventStarted)

	require.NoError(t, b.stop(t))
	for range 2 {
		ended := b.fake.next(t, dispatch.EventEnded)
		require.Equal(t, job.Failed, ended.End.State)
		require.Equal(t, job.SubState{Kind: job.ReasonShutdown}, ended.End.SubState)
	}
	require.EqualValues(t, 0, b.fake.streamMsgs(t), "ends recorded and work acked before Run returned")
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.Labels = map[string]string{"gpu": "yes"}; c.Version = "1.2" })
	beats := make(chan *dispatch.Heartbeat, 100)
	b.fake.mu.Lock()
	b.fake.beats = beats
	b.fake.mu.Unlock()
	b.run(t)

	hb := <-beats // sent at once on start
	require.Equal(t, "w1", hb.Worker)
	require.Equal(t, job.PoolDefault, hb.Pool)
	require.Equal(t, 2, hb.Slots)
	require.Equal(t, "1.2", hb.Version)
	require.Equal(t, map[string]string{"gpu": "yes"}, hb.Labels)
	require.Empty(t, hb.Running)

	w := b.work(1, "sleep", "30")
	b.fake.publish(t, w)
	b.fake.next(t, dispatch.EventStarted)
	require.Equal(t, []dispatch.TaskKey{w.TaskKey}, b.worker.heartbeat().Running)
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for _, tc := range []struct {
		change func(*Config)
		want   string
	}{
		{func(c *Config) { c.Executor = nil }, "Executor is required"},
		{func(c *Config) { c.Conn = nil }, "Conn is required"},
		{func(c *Config) { c.Slots = -1 }, "Slots"},
		{func(c *Config) { c.ID = "a b" }, "ID"},
		{func(c *Config) { c.Pool = "a.>" }, "Pool"},
		{func(c *Config) { c.StopGrace = -time.Second }, "StopGrace"},
	} {
		cfg := b.worker.cfg
		tc.change(&cfg)
		_, err := New(cfg)
		require.ErrorContains(t, err, tc.want)
	}
	w, err := New(Config{Conn: b.conn, Executor: b.worker.cfg.Executor})
	require.NoError(t, err)
	host, _ := os.Hostname()
	require.True(t, strings.HasPrefix(w.ID(), host+"-"), w.ID())
	require.Equal(t, job.PoolDefault, w.cfg.Pool)
	require.Positive(t, w.cfg.Slots)
	require.Equal(t, StopGraceDefault, w.cfg.StopGrace)
}
