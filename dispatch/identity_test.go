package dispatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/job"
)

// enrol makes an NKey user and returns its WorkerUser and seed file.
func enrol(t *testing.T, id, pool string) (WorkerUser, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	require.NoError(t, err)
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	f := filepath.Join(t.TempDir(), id+".nk")
	require.NoError(t, os.WriteFile(f, seed, 0o600))
	return WorkerUser{ID: id, Pool: pool, NKey: pub}, f
}

// TestForgedWorker checks what a client holding one worker's credentials
// can do: exactly that worker's part, nothing of anyone else's.
func TestForgedWorker(t *testing.T) {
	t.Parallel()
	a, _ := enrol(t, "wa", job.PoolDefault)
	b, bSeed := enrol(t, "wb", job.PoolDefault)
	s := testServer(t, ServerConfig{Workers: []WorkerUser{a, b}})
	server := testConn(t, s, "server")
	require.NoError(t, EnsureWorkConsumer(t.Context(), server.JetStream(), job.PoolDefault))
	require.NoError(t, EnsureWorkConsumer(t.Context(), server.JetStream(), "gpu"))

	violations := make(chan string, 100)
	nc, err := nats.Connect(s.ClientURL(), mustNKey(t, bSeed), nats.CustomInboxPrefix(InboxPrefix("wb")),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err.Error() }))
	require.NoError(t, err)
	defer nc.Close()
	expectViolation := func(what string) {
		t.Helper()
		select {
		case v := <-violations:
			require.Contains(t, v, "ermissions", what)
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: no permissions violation", what)
		}
	}

	// Publish work: refused, the stream stays empty.
	require.NoError(t, nc.Publish(SubjectWork(job.PoolDefault), []byte(`{"job":1,"index":0,"attempt":1}`)))
	expectViolation("publishing work")
	require.EqualValues(t, 0, streamMsgs(t, server))

	// Speak for another worker: refused before the server sees it.
	got := make(chan *Event, 10)
	_, err = server.ServeEvents(t.Context(), func(_ context.Context, e *Event) (*Work, error) { got <- e; return nil, nil })
	require.NoError(t, err)
	require.NoError(t, nc.Publish(workerSubject("wa", kindEvent), []byte(`{"job":1,"kind":"ended"}`)))
	expectViolation("an event as wa")

	// Read others' traffic: work stream, other workers' inboxes, controls.
	for _, subj := range []string{"berth.>", InboxPrefix("wa") + ".>", SubjectControl("wa"), ">"} {
		_, err := nc.SubscribeSync(subj)
		require.NoError(t, err)
		expectViolation("subscribing to " + subj)
	}

	// The JetStream API beyond its consumer: delete the stream, read
	// another pool's consumer.
	for _, subj := range []string{"$JS.API.STREAM.DELETE." + StreamWork, "$JS.API.STREAM.PURGE." + StreamWork,
		"$JS.API.CONSUMER.MSG.NEXT." + StreamWork + "." + WorkConsumerName("gpu"), "$JS.API.STREAM.INFO." + StreamWork} {
		_, err := nc.Request(subj, nil, 500*time.Millisecond)
		require.Error(t, err, subj)
		expectViolation(subj)
	}
	_, err = server.JetStream().Stream(t.Context(), StreamWork)
	require.NoError(t, err, "the stream is still there")

	// Its own part works: a heartbeat, a pull from its pool's consumer.
	conn, err := Connect(t.Context(), ConnectConfig{URLs: []string{s.ClientURL()}, NKeySeedFile: bSeed, Worker: "wb"})
	require.NoError(t, err)
	defer conn.Close()
	_, err = server.ServeHeartbeats(t.Context(), func(hb *Heartbeat) HeartbeatReply {
		return HeartbeatReply{OK: true, Lease: job.Duration(LeasePeriod)}
	})
	require.NoError(t, err)
	_, err = conn.Heartbeat(t.Context(), &Heartbeat{})
	require.NoError(t, err)
	src, err := conn.WorkSource(t.Context(), job.PoolDefault)
	require.NoError(t, err)
	require.NoError(t, NewPublisher(server).PublishWork(t.Context(), testWork(5, "")))
	var d *Delivery
	require.NoError(t, src.Fetch(t.Context(), 1, 2*time.Second, func(x *Delivery) { d = x }))
	require.NotNil(t, d)
	require.Empty(t, d.Work.Template.Command, "the stream carries no template")
	require.NoError(t, d.Ack(t.Context()))

	// A revoked worker is disconnected and refused.
	require.NoError(t, s.SetWorkers([]WorkerUser{a}))
	_, err = Connect(t.Context(), ConnectConfig{URLs: []string{s.ClientURL()}, NKeySeedFile: bSeed, Worker: "wb"})
	require.ErrorIs(t, err, nats.ErrAuthorization)
}

func mustNKey(t *testing.T, seedFile string) nats.Option {
	t.Helper()
	o, err := nats.NkeyOptionFromSeed(seedFile)
	require.NoError(t, err)
	return o
}
