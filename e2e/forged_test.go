package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// TestForgedWorkerOnServer plays a client that stole one enrolled worker's
// credentials against a real berth serve whose local worker runs a job with
// a secret: each thing it tries beyond that worker's part is refused and
// logged, and the job's record and the dispatch are untouched.
func TestForgedWorkerOnServer(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t, "--slots", "2")
	ctx := context.Background()
	c := s.Client()
	cred, err := c.EnrollWorker(ctx, "evil", "")
	require.NoError(t, err)
	seed := filepath.Join(testenv.ShortTempDir(t), "evil.nk")
	require.NoError(t, os.WriteFile(seed, []byte(cred.Seed), 0o600))

	j, err := c.Submit(ctx, job.Spec{Template: job.Template{Command: "sleep", Args: []string{"30"},
		Env: map[string]string{"SECRET": "s3cret"}}})
	require.NoError(t, err)
	ref := fmt.Sprint(j.ID)
	require.Eventually(t, func() bool { return taskOf(t, s, ref).State == job.Running }, 10*time.Second, 10*time.Millisecond)
	held := dispatch.TaskKey{Job: j.ID, Attempt: 1}

	violations := make(chan string, 100)
	opt, err := nats.NkeyOptionFromSeed(seed)
	require.NoError(t, err)
	nc, err := nats.Connect(s.NATSURL(), opt, nats.CustomInboxPrefix(dispatch.InboxPrefix("evil")),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err.Error() }))
	require.NoError(t, err)
	defer nc.Close()
	refused := func(what string) {
		t.Helper()
		select {
		case v := <-violations:
			require.Contains(t, v, "ermissions", what)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s was not refused", what)
		}
	}

	// Read others' traffic (the local worker's inbox gets the job's
	// template and environment), publish work, administer JetStream.
	for _, subj := range []string{"berth.>", dispatch.InboxPrefix("local") + ".>", "_INBOX.>"} {
		_, err := nc.SubscribeSync(subj)
		require.NoError(t, err)
		refused("subscribing to " + subj)
	}
	require.NoError(t, nc.Publish(dispatch.SubjectWork(job.PoolDefault), []byte(`{"job":1,"index":0,"attempt":9}`)))
	refused("publishing work")
	for _, subj := range []string{"$JS.API.STREAM.DELETE." + dispatch.StreamWork, "$JS.API.STREAM.PURGE." + dispatch.StreamWork,
		"$JS.API.CONSUMER.DELETE." + dispatch.StreamWork + "." + dispatch.WorkConsumerName(job.PoolDefault)} {
		_, err := nc.Request(subj, nil, time.Second)
		require.Error(t, err)
		refused(subj)
	}
	// Speak as the local worker.
	require.NoError(t, nc.Publish("berth.w.local.event", []byte(`{}`)))
	refused("an event as the local worker")

	// As itself: claim, end, fail or release the task the local worker
	// holds. The server answers, and refuses.
	request := func(kind string, v, out any) {
		t.Helper()
		b, _ := json.Marshal(v)
		m, err := nc.Request("berth.w.evil."+kind, b, 5*time.Second)
		require.NoError(t, err, kind)
		require.NoError(t, json.Unmarshal(m.Data, out))
	}
	var cr dispatch.ClaimReply
	request("claim", dispatch.Claim{TaskKey: held}, &cr)
	require.False(t, cr.OK)
	require.Nil(t, cr.Work, "nothing of the job")
	code := 0
	for _, kind := range []dispatch.EventKind{dispatch.EventEnded, dispatch.EventReleased, dispatch.EventSuspended} {
		var er dispatch.EventReply
		request("event", dispatch.Event{TaskKey: held, Kind: kind, End: &dispatch.End{State: job.Done, ExitCode: &code}}, &er)
		require.False(t, er.OK, kind)
		require.True(t, er.Refused, kind)
	}
	var or dispatch.OutputReply
	request("output", dispatch.Output{TaskKey: held, Stream: dispatch.StreamStdout, Data: []byte("forged\n")}, &or)
	require.False(t, or.OK)
	var hr dispatch.HeartbeatReply
	request("hb", dispatch.Heartbeat{Pool: "other"}, &hr)
	require.False(t, hr.OK, "a heartbeat for a pool it is not enrolled in")
	require.Contains(t, hr.Error, "enrolled in pool default")

	// Nothing changed: the job still runs on the local worker, and
	// dispatch works.
	tk := taskOf(t, s, ref)
	require.Equal(t, job.Running, tk.State)
	require.Equal(t, "local", tk.Worker)
	require.Equal(t, 1, tk.Attempt)
	r := s.Berth("", "run", "--", "echo", "still dispatching")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, "still dispatching\n", r.Stdout)
	log := s.Log()
	require.Contains(t, log, "refused an event from a worker that does not hold the task")
	require.True(t, strings.Contains(log, "Violation"), "NATS logs the permission violations")
	require.Equal(t, 0, s.Berth("", "stop", ref).Code)
}
