package kafka

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kgo"
)

func rec(p int32, off int64) *kgo.Record {
	return &kgo.Record{Topic: "t", Partition: p, Offset: off}
}

// TestOffsetsInOrder commits an offset only once every earlier record of
// its partition is done, whatever order the jobs end in.
func TestOffsetsInOrder(t *testing.T) {
	t.Parallel()
	o := newOffsets()
	o.assign(map[string][]int32{"t": {0, 1}})
	e := []*entry{o.add(rec(0, 10)), o.add(rec(0, 11)), o.add(rec(0, 12)), o.add(rec(1, 5))}
	require.Equal(t, 4, o.pending())
	require.Nil(t, o.done(e[1]), "11 waits for 10")
	require.Nil(t, o.done(e[2]), "12 waits for 10")
	require.Equal(t, int64(5), o.done(e[3]).Offset, "partition 1 is on its own")
	require.Equal(t, int64(12), o.done(e[0]).Offset, "10 done: through 12")
	require.Zero(t, o.pending())
	e4 := o.add(rec(0, 13))
	require.Equal(t, int64(13), o.done(e4).Offset)
}

// TestOffsetsRevoke commits what is done on a revoked partition, forgets
// the rest, and tracks nothing of a partition not assigned.
func TestOffsetsRevoke(t *testing.T) {
	t.Parallel()
	o := newOffsets()
	require.Nil(t, o.add(rec(0, 1)), "not assigned")
	o.assign(map[string][]int32{"t": {0, 1}})
	a, b, c := o.add(rec(0, 1)), o.add(rec(0, 2)), o.add(rec(1, 7))
	o.done(b)
	require.Empty(t, o.revoke(map[string][]int32{"t": {0}}), "1 is not done: nothing to commit on 0")
	require.Nil(t, o.done(a), "revoked: no commit")
	require.Nil(t, o.add(rec(0, 3)), "revoked partitions are not tracked")
	o.done(c)
	// A record of partition 1 done but not committed yet is in the last commit.
	d := o.add(rec(1, 8))
	o.mu.Lock()
	d.done = true
	o.mu.Unlock()
	got := o.revoke(nil)
	require.Len(t, got, 1)
	require.Equal(t, int64(8), got[0].Offset)
	// Assigned again, a partition starts afresh.
	o.assign(map[string][]int32{"t": {0}})
	require.Equal(t, int64(1), o.done(o.add(rec(0, 1))).Offset)
}
