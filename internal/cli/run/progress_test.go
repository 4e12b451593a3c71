package run

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/job"
)

// TestProgress shows counts as they change: in place on a terminal, as
// lines of changes elsewhere.
func TestProgress(t *testing.T) {
	t.Parallel()
	steps := []map[job.State]int{
		{job.Queued: 3, job.QueuedHeld: 1},
		{job.Queued: 2, job.QueuedHeld: 1, job.Running: 1},
		{job.Queued: 2, job.QueuedHeld: 1, job.Running: 1}, // no change but the clock
		{job.Requeued: 1, job.Running: 1, job.Suspended: 1, job.Failed: 1},
		{job.Done: 3, job.Failed: 1},
	}
	for _, tc := range []struct {
		tty  bool
		want string
	}{
		{false, "" +
			"job 7: 0 done, 0 failed, 0 running, 4 queued (4 tasks, 0s elapsed)\n" +
			"job 7: 0 done, 0 failed, 1 running, 3 queued (4 tasks, 1s elapsed)\n" +
			"job 7: 0 done, 1 failed, 2 running, 1 queued (4 tasks, 3s elapsed)\n" +
			"job 7: 3 done, 1 failed, 0 running, 0 queued (4 tasks, 1m4s elapsed)\n"},
		{true, "" +
			"\r\x1b[Kjob 7: 0 done, 0 failed, 0 running, 4 queued (4 tasks, 0s elapsed)" +
			"\r\x1b[Kjob 7: 0 done, 0 failed, 1 running, 3 queued (4 tasks, 1s elapsed)" +
			"\r\x1b[Kjob 7: 0 done, 0 failed, 1 running, 3 queued (4 tasks, 2s elapsed)" +
			"\r\x1b[Kjob 7: 0 done, 1 failed, 2 running, 1 queued (4 tasks, 3s elapsed)" +
			"\r\x1b[Kjob 7: 3 done, 1 failed, 0 running, 0 queued (4 tasks, 1m4s elapsed)\n"},
	} {
		var out bytes.Buffer
		now := clitest.Now
		p := &progress{w: &out, tty: tc.tty, id: 7, total: 4, start: now, now: func() time.Time { return now },
			last: counts{queued: 99}}
		for i, st := range steps {
			now = clitest.Now.Add(time.Duration(i) * time.Second)
			if i == len(steps)-1 {
				now = clitest.Now.Add(64*time.Second + 900*time.Millisecond)
			}
			p.set(countStates(st))
		}
		p.finish()
		p.finish() // once only
		require.Equal(t, tc.want, out.String())
	}
}

func TestLastLines(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"b", "c"}, lastLines([]byte("a\r\nb\n\n  \nc\r\n\n"), 2))
	require.Nil(t, lastLines(nil, 5))
	require.Equal(t, []string{"only"}, lastLines([]byte("only"), 5))
}
