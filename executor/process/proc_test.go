package process

import (
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestParseProcStat(t *testing.T) {
	t.Parallel()
	tail := " 7 8 1 0 -1 4194304 100 0 0 0 1 2 0 0 20 0 1 0 123456789 2000 300 18446744073709551615"
	for _, comm := range []string{"sleep", "a b", "a) (b", ")", "x) S 1 2 3"} {
		st, err := parseProcStat([]byte("4242 (" + comm + ") T" + tail + "\n"))
		require.NoError(t, err, comm)
		require.Equal(t, byte('T'), st.State, comm)
		require.Equal(t, uint64(123456789), st.StartTicks, comm)
		require.Equal(t, 7, st.PPID, comm)
		require.Equal(t, 8, st.Pgrp, comm)
	}
	for _, bad := range []string{"", "4242 sleep S 1", "4242 (sleep) S 1 2", "4242 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 12x 1", "4242 (x) Sx" + tail} {
		_, err := parseProcStat([]byte(bad))
		require.Error(t, err, bad)
	}
}

func TestReadProcStatSelf(t *testing.T) {
	t.Parallel()
	st, err := readProcStat(os.Getpid())
	require.NoError(t, err)
	require.NotZero(t, st.StartTicks)
	require.Contains(t, "RS", string(st.State))
	require.Equal(t, os.Getppid(), st.PPID)
	require.Equal(t, syscall.Getpgrp(), st.Pgrp)
}

func TestChildFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		script string
		code   int32
		status int
	}{{"exit 5", cldExited, 5}, {"kill -TERM $$", cldKilled, int(syscall.SIGTERM)}} {
		cmd := exec.Command("/bin/sh", "-c", tc.script)
		require.NoError(t, cmd.Start())
		var info unix.Siginfo
		require.NoError(t, unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil))
		pid, status := childFields(&info)
		require.Equal(t, cmd.Process.Pid, pid, tc.script)
		require.Equal(t, tc.code, info.Code, tc.script)
		require.Equal(t, tc.status, status, tc.script)
		_ = cmd.Wait()
	}
}
