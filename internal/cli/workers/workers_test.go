package workers

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/cli/clitest"
)

func TestWorkers(t *testing.T) {
	t.Parallel()
	s := clitest.StartServer(t, clitest.Options{NoWorker: true})
	s.Heartbeat(t, "w1", "default", dispatch.Heartbeat{Host: "h", Slots: 4, Version: "v1",
		Labels: map[string]string{"zone": "a", "gpu": "yes"}, Running: []dispatch.TaskKey{{Job: 1, Attempt: 1}}, Time: time.Now()})
	ws, err := s.Client(t).Workers(context.Background())
	require.NoError(t, err)
	require.Len(t, ws, 1)
	seen := ws[0].LastSeen
	// The clock of the commands: 5 seconds after the heartbeat.
	now := func() time.Time { return seen.Add(5 * time.Second) }

	env := s.Env(t, true)
	env.F.Now = now
	_, err = clitest.Exec(NewCmdWorkers(env.F, nil))
	require.NoError(t, err)
	require.Equal(t, ""+
		"WORKER  HOST  POOL     SLOTS  RUNNING  FREE  LABELS          ALIVE  LAST SEEN      VERSION\n"+
		"w1      h     default  4      1        3     gpu=yes,zone=a  yes    5 seconds ago  v1\n", env.Out.String())

	env = s.Env(t, false)
	env.F.Now = now
	_, err = clitest.Exec(NewCmdWorkers(env.F, nil))
	require.NoError(t, err)
	require.Equal(t, "w1\th\tdefault\t4\t1\t3\tgpu=yes,zone=a\ttrue\t"+seen.UTC().Format(time.RFC3339)+"\tv1\n", env.Out.String())

	env = s.Env(t, false)
	_, err = clitest.Exec(NewCmdWorkers(env.F, nil), "--json")
	require.NoError(t, err)
	var got []api.WorkerStatus
	require.NoError(t, json.Unmarshal(env.Out.Bytes(), &got))
	require.Equal(t, "w1", got[0].Worker)
}
