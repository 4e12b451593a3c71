package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
)

// interleaved writes to both streams with pauses between, so that the
// order of arrival is the order of the lines.
const interleaved = `echo out1; sleep 0.3; echo err1 >&2; sleep 0.3; printf 'out'; sleep 0.3; echo err2 >&2; sleep 0.3; echo 2`

// TestLogsInterleaved runs a process job and a container job that write
// to both streams in turn: logs prints the lines in the order they
// arrived, -t their times, --since the lines since one of them.
func TestLogsInterleaved(t *testing.T) {
	t.Parallel()
	image := testenv.DockerImage(t)
	s := testenv.StartServer(t)
	for _, args := range [][]string{
		{"--", "sh", "-c", interleaved},
		{"--image", image, "--", "sh", "-c", interleaved},
	} {
		id := fmt.Sprint(submitted(t, s.Berth("", append([]string{"run", "-d"}, args...)...)))
		// Followed from the start, while it runs.
		r := s.Berth("", "logs", "-f", id)
		require.Equal(t, 0, r.Code, r.Stderr)
		require.Equal(t, "out1\nerr1\nerr2\nout2\n", r.Stdout, "%v", args)
		require.Equal(t, "out1\nout2\n", s.Berth("", "logs", "--stdout", id).Stdout)
		require.Equal(t, "err1\nerr2\n", s.Berth("", "logs", "--stderr", id).Stdout)

		r = s.Berth("", "logs", "-t", id)
		require.Equal(t, 0, r.Code, r.Stderr)
		lines := strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
		require.Len(t, lines, 4, r.Stdout)
		var times []time.Time
		for i, want := range []string{"out1", "err1", "err2", "out2"} {
			stamp, text, ok := strings.Cut(lines[i], " ")
			require.True(t, ok, lines[i])
			require.Equal(t, want, text)
			require.Len(t, stamp, len("2006-01-02T15:04:05.000000000Z"), stamp)
			at, err := time.Parse(time.RFC3339Nano, stamp)
			require.NoError(t, err)
			require.WithinDuration(t, time.Now(), at, time.Minute)
			if i > 0 {
				require.True(t, at.After(times[i-1]), "%s after %s", at, times[i-1])
			}
			times = append(times, at)
		}
		since := times[1].Format(time.RFC3339Nano)
		require.Equal(t, "err1\nerr2\nout2\n", s.Berth("", "logs", "--since", since, id).Stdout)
		require.Equal(t, lines[2]+"\n", s.Berth("", "logs", "-t", "--stderr", "--since", times[2].Format(time.RFC3339Nano), id).Stdout)
		require.Equal(t, "out1\nerr1\nerr2\nout2\n", s.Berth("", "logs", "--since", "1h", id).Stdout)
		require.Equal(t, "err2\nout2\n", s.Berth("", "logs", "--tail", "2", id).Stdout)
	}
}
