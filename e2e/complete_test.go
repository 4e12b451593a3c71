package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
)

// TestCompletion: Tab completes job IDs, labels and pools from a real
// server, and offers nothing, quietly, when there is none.
func TestCompletion(t *testing.T) {
	t.Parallel()
	s := testenv.StartServer(t)
	id := submitted(t, s.Berth("", "run", "-d", "--name", "tabbed", "--label", "team=ops", "--", "true"))
	require.Equal(t, 0, s.Berth("", "wait", fmt.Sprint(id)).Code)

	r := s.Berth("", "__complete", "show", "")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Equal(t, fmt.Sprintf("%d\ttabbed Done\n:4\n", id), r.Stdout)
	r = s.Berth("", "__complete", "ls", "--label", "te")
	require.Equal(t, "team=ops\n:4\n", r.Stdout)
	r = s.Berth("", "__complete", "run", "--pool", "")
	require.Equal(t, "default\n:4\n", r.Stdout)

	// The generated script calls back the same way.
	r = s.Berth("", "completion", "bash")
	require.Equal(t, 0, r.Code, r.Stderr)
	require.Contains(t, r.Stdout, "__complete")

	// No server: nothing offered, exit 0, no error.
	cmd := exec.CommandContext(context.Background(), s.Bin, "__complete", "wait", "")
	cmd.Env = append(s.Env(), "BERTH_ADDR=unix://"+filepath.Join(testenv.ShortTempDir(t), "none.sock"))
	out, err := cmd.Output()
	require.NoError(t, err)
	require.Equal(t, ":4\n", string(out))
}
