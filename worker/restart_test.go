package worker

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
)

// TestSurvivesServerRestart checks a task keeps running while NATS is down,
// and its end is recorded and its work acked once NATS is back.
func TestSurvivesServerRestart(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	b.run(t)
	b.fake.publish(t, b.work(1, "sleep", "0.5"))
	b.fake.next(t, dispatch.EventStarted)

	b.nats.Shutdown()
	time.Sleep(time.Second) // the task ends meanwhile
	require.NoError(t, b.nats.Start(t.Context()))

	ended := b.fake.next(t, dispatch.EventEnded)
	require.Equal(t, job.Done, ended.End.State)
	require.Eventually(t, func() bool { return b.fake.streamMsgs(t) == 0 }, 10*time.Second, 20*time.Millisecond)

	// And the worker pulls again.
	b.fake.publish(t, b.work(2, "true"))
	b.fake.next(t, dispatch.EventStarted)
	b.fake.next(t, dispatch.EventEnded)
}
