package docker

import (
	"bytes"
	"hash/crc32"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTail checks the ring that keeps the last bytes of a stream, across
// wrap-arounds and writes larger than it.
func TestTail(t *testing.T) {
	t.Parallel()
	var all bytes.Buffer
	var tl tail
	check := func() {
		t.Helper()
		b := all.Bytes()
		for _, n := range []int{0, 1, 7, 4096, tailSize - 1, tailSize} {
			if n > len(b) {
				require.False(t, tl.endsWith(int64(n), 0), "n=%d beyond what was written", n)
				continue
			}
			require.True(t, tl.endsWith(int64(n), crc32.ChecksumIEEE(b[len(b)-n:])), "n=%d of %d", n, len(b))
			if n > 0 {
				require.False(t, tl.endsWith(int64(n), crc32.ChecksumIEEE(b[len(b)-n:])+1), "n=%d", n)
			}
		}
		require.False(t, tl.endsWith(tailSize+1, 0))
	}
	for i, size := range []int{3, 5000, 30000, 40000, 1, tailSize, 100, tailSize + 17, 12} {
		p := bytes.Repeat([]byte{byte('a' + i)}, size)
		p[0] = byte(i)
		all.Write(p)
		tl.write(p)
		check()
	}
}

// TestOutputWriteErr writes a task's stdout to /dev/full, where every write
// fails as on a full disk: the outputs say stdout is incomplete, stderr not.
func TestOutputWriteErr(t *testing.T) {
	t.Parallel()
	o, err := newOutputs("/dev/full", t.TempDir()+"/err", "", 1<<20, false)
	require.NoError(t, err)
	require.NoError(t, o.stderr.write([]byte("fine\n")))
	big := bytes.Repeat([]byte("x"), 2*outBufSize)
	require.Error(t, o.stdout.write(big))
	_ = o.close()
	err = o.writeErr()
	require.ErrorContains(t, err, "stdout: ")
	require.ErrorContains(t, err, "no space left on device")
	require.NotContains(t, err.Error(), "stderr")
}
