package dispatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

// TestRepairWorkAfterFullDisk fills the disk of the embedded server's
// store (a small tmpfs): the work stream breaks and stays broken once space
// is back, which WorkStreamErr tells; RepairWork makes it anew, work is
// published again and a worker's source pulls it.
func TestRepairWorkAfterFullDisk(t *testing.T) {
	t.Parallel()
	disk := testenv.SmallDisk(t, 8<<20)
	s := testServer(t, ServerConfig{StoreDir: disk})
	c := testConn(t, s, "t")
	p := NewPublisher(c)
	p.Broken = s.WorkStreamErr
	// The stream's consumers go with it; the server makes them again.
	p.Repaired = func(ctx context.Context) { require.NoError(t, EnsureWorkConsumer(ctx, c.JetStream(), job.PoolDefault)) }
	ctx := t.Context()
	src, err := testWorkerConn(t, s, "w1", job.PoolDefault).WorkSource(ctx, job.PoolDefault)
	require.NoError(t, err)
	publish := func(id int64, size int) error {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if size > 1 {
			// Work messages carry only a key; a bigger message fills
			// JetStream's block as much work would.
			_, err := c.JetStream().Publish(pctx, SubjectWork(job.PoolDefault), []byte(strings.Repeat("x", size)))
			return err
		}
		return p.PublishWork(pctx, &Work{TaskKey: TaskKey{Job: id, Attempt: 1}})
	}
	require.NoError(t, publish(1, 1))
	repaired, err := p.RepairWork(ctx)
	require.NoError(t, err)
	require.False(t, repaired, "a whole stream is left alone")

	filler := testenv.FillDisk(t, disk)
	require.Error(t, publish(2, 64<<10))
	require.ErrorContains(t, s.WorkStreamErr(), "no space left")
	filler.Free()
	require.Error(t, publish(3, 1), "the stream stays broken once space is back")
	require.Error(t, s.WorkStreamErr())

	repaired, err = p.RepairWork(ctx)
	require.NoError(t, err)
	require.True(t, repaired)
	require.NoError(t, s.WorkStreamErr())
	require.NoError(t, publish(4, 1))
	var got []TaskKey
	for i := 0; len(got) == 0 && i < 5; i++ {
		_ = src.Fetch(ctx, 10, time.Second, func(d *Delivery) { // the first fetch finds its consumer gone
			got = append(got, d.Work.TaskKey)
			require.NoError(t, d.Ack(ctx))
		})
	}
	require.Equal(t, []TaskKey{{Job: 4, Attempt: 1}}, got)
}
