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

// TestReapAfterRecorded: a task's leader stays a zombie until the server has
// recorded its end, so that a worker that dies in between leaves its exit
// status to the reaper (see executor/process), and is reaped after.
func TestReapAfterRecorded(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	pidFile := filepath.Join(t.TempDir(), "pid")
	states := make(chan string, 1)
	b.fake.onEnded = func(*dispatch.Event) { states <- procStateOf(pidFile) }
	b.run(t)
	b.fake.publish(t, b.work(1, "sh", "-c", "echo $$ > "+pidFile))
	b.fake.next(t, dispatch.EventStarted)
	b.fake.next(t, dispatch.EventEnded)
	require.Equal(t, "Z", <-states, "a zombie while the end is being recorded")
	require.Eventually(t, func() bool { return procStateOf(pidFile) == "" }, 10*time.Second, 10*time.Millisecond,
		"reaped once the end is recorded")
}

// procStateOf returns the state letter of the process whose PID is in
// pidFile, or "" if it is gone.
func procStateOf(pidFile string) string {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return "no pid: " + err.Error()
	}
	st, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
	if err != nil {
		return ""
	}
	s := string(st)
	return strings.Fields(s[strings.LastIndexByte(s, ')')+1:])[0]
}
