package dispatch

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/job"
)

func streamMsgs(t *testing.T, c *Conn) uint64 {
	t.Helper()
	s, err := c.JetStream().Stream(t.Context(), StreamWork)
	require.NoError(t, err)
	info, err := s.Info(t.Context())
	require.NoError(t, err)
	return info.State.Msgs
}

func testWork(jobID int64, pool string) *Work {
	return &Work{
		TaskKey:  TaskKey{Job: jobID, Index: 0, Attempt: 1},
		Pool:     pool,
		Template: job.Template{Command: "true"},
		Dir:      "/tmp/x",
	}
}

func TestWorkRoundTrip(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{DontListen: true})
	server, worker := testConn(t, s, "server"), testWorkerConn(t, s, "w1", "gpu")
	pub := NewPublisher(server)

	src, err := worker.WorkSource(t.Context(), "gpu")
	require.NoError(t, err)
	require.NoError(t, pub.PublishWork(t.Context(), testWork(7, "gpu")))
	require.NoError(t, pub.PublishWork(t.Context(), testWork(8, "")), "default pool")
	require.EqualValues(t, 2, streamMsgs(t, server))

	var got []*Delivery
	require.NoError(t, src.Fetch(t.Context(), 5, 300*time.Millisecond, func(d *Delivery) { got = append(got, d) }))
	require.Len(t, got, 1, "only the gpu pool's work")
	require.Equal(t, TaskKey{Job: 7, Attempt: 1}, got[0].Work.TaskKey)
	require.Empty(t, got[0].Work.Template.Command, "the stream carries the key alone")
	require.NoError(t, got[0].InProgress())
	require.EqualValues(t, 2, streamMsgs(t, server), "not acked yet")
	require.NoError(t, got[0].Ack(t.Context()))
	require.EqualValues(t, 1, streamMsgs(t, server))

	require.NoError(t, pub.PurgeWork(t.Context()))
	require.EqualValues(t, 0, streamMsgs(t, server))
}

func TestWorkRepublishAfterPurge(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{DontListen: true})
	c := testConn(t, s, "server")
	pub := NewPublisher(c)
	w := testWork(1, "")
	require.NoError(t, pub.PublishWork(t.Context(), w))
	require.NoError(t, pub.PurgeWork(t.Context()))
	require.NoError(t, pub.PublishWork(t.Context(), w))
	require.EqualValues(t, 1, streamMsgs(t, c), "the same attempt again is not dropped as a duplicate")
}

// TestWorkQueueShared checks that two workers of a pool share its consumer:
// each message goes to one of them, once, and acked ones are gone.
func TestWorkQueueShared(t *testing.T) {
	t.Parallel()
	s := testServer(t, ServerConfig{DontListen: true})
	server := testConn(t, s, "server")
	pub := NewPublisher(server)
	const n = 20
	for i := range n {
		require.NoError(t, pub.PublishWork(t.Context(), testWork(int64(i+1), "")))
	}

	seen := map[int64]int{}
	var held []*Delivery
	for _, name := range []string{"worker-a", "worker-b"} {
		c := testWorkerConn(t, s, name, job.PoolDefault)
		src, err := c.WorkSource(t.Context(), job.PoolDefault)
		require.NoError(t, err)
		got := 0
		require.NoError(t, src.Fetch(t.Context(), n/2, 2*time.Second, func(d *Delivery) {
			seen[d.Work.Job]++
			held = append(held, d)
			got++
		}))
		require.Equal(t, n/2, got, name)
	}
	require.Len(t, seen, n)
	for id, k := range seen {
		require.Equal(t, 1, k, "job %d delivered more than once", id)
	}

	var wg sync.WaitGroup
	for _, d := range held {
		wg.Go(func() { require.NoError(t, d.Ack(t.Context())) })
	}
	wg.Wait()
	require.EqualValues(t, 0, streamMsgs(t, server))
}

func TestWorkConsumerName(t *testing.T) {
	t.Parallel()
	require.Equal(t, "pool-default", WorkConsumerName("default"))
	require.Equal(t, "pool-a~2Eb~2Fc", WorkConsumerName("a.b/c"))
}

func TestTaskKey(t *testing.T) {
	t.Parallel()
	k := TaskKey{Job: 12, Index: 3, Attempt: 2}
	require.Equal(t, "12.3.2", k.String())
	got, err := ParseTaskKey("12.3.2")
	require.NoError(t, err)
	require.Equal(t, k, got)
	for _, bad := range []string{"", "12", "12.3", "a.b.c", "0.1.1", "1.-1.1", "1.2.3.4"} {
		_, err := ParseTaskKey(bad)
		require.Error(t, err, bad)
	}
}
