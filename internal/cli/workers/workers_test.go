package workers

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/internal/cli/clitest"
)

func TestWorkers(t *testing.T) {
	t.Parallel()
	api, url := clitest.NewAPI(t)
	api.Workers = []api.WorkerStatus{{Worker: "w1", Host: "h", Pool: "default", Slots: 4, Version: "v1", Labels: map[string]string{"zone": "a", "gpu": "yes"},
		Running: []api.TaskKey{{Job: 1, Attempt: 1}}, LastSeen: clitest.Now.Add(-5 * time.Second), Alive: true}}

	env := clitest.NewEnv(t, url, true)
	_, err := clitest.Exec(NewCmdWorkers(env.F, nil))
	require.NoError(t, err)
	require.Equal(t, ""+
		"WORKER  HOST  POOL     SLOTS  RUNNING  FREE  LABELS          ALIVE  LAST SEEN      VERSION\n"+
		"w1      h     default  4      1        3     gpu=yes,zone=a  yes    5 seconds ago  v1\n", env.Out.String())

	env = clitest.NewEnv(t, url, false)
	_, err = clitest.Exec(NewCmdWorkers(env.F, nil))
	require.NoError(t, err)
	require.Equal(t, "w1\th\tdefault\t4\t1\t3\tgpu=yes,zone=a\ttrue\t2026-03-01T11:59:55Z\tv1\n", env.Out.String())

	env = clitest.NewEnv(t, url, false)
	_, err = clitest.Exec(NewCmdWorkers(env.F, nil), "--json")
	require.NoError(t, err)
	var ws []api.WorkerStatus
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &ws))
	require.Equal(t, "w1", ws[0].Worker)
}
