package complete_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/cli"
	"github.com/berth-run/berth/internal/cli/clitest"
	"github.com/berth-run/berth/job"
)

// complete runs `berth __complete ARGS...`, as the shell scripts do, and
// returns its output.
func complete(t *testing.T, url string, args ...string) string {
	t.Helper()
	env := clitest.NewEnv(t, url, false)
	root := cli.NewRootCmd(env.F)
	root.SetArgs(append([]string{"__complete"}, args...))
	require.NoError(t, root.Execute())
	return env.Out.String()
}

// server holds a job that ended, one running and nine queued.
var server = clitest.Share(clitest.Options{NoWorker: true, Seed: func(f *clitest.Fixtures) {
	spec := job.Spec{Name: "build", Labels: map[string]string{"team": "ops"}, Template: job.Template{Command: "true"}}
	id := f.Job(spec, clitest.Now)
	f.Set(clitest.Now, &job.Task{JobID: id, State: job.Done, SubState: job.ExitCode(0)})
	spec = job.Spec{Labels: map[string]string{"team": "dev", "env": "ci"}, Template: job.Template{Command: "true"}}
	id = f.Job(spec, clitest.Now)
	f.Set(clitest.Now, &job.Task{JobID: id, State: job.Running, Info: job.Info{Attempt: 1, Worker: "w2"}})
	for range 9 {
		f.Job(job.Spec{Template: job.Template{Command: "true"}}, clitest.Now)
	}
}})

var heartbeats sync.Once

func TestMain(m *testing.M) { clitest.Main(m) }

// setup returns the server's address, once its workers of pools gpu and
// default have reported in.
func setup(t *testing.T) string {
	s := server.Server(t)
	heartbeats.Do(func() {
		s.Heartbeat(t, "w1", "gpu", dispatch.Heartbeat{Time: time.Now()})
		s.Heartbeat(t, "w2", "default", dispatch.Heartbeat{Time: time.Now(), Running: []dispatch.TaskKey{{Job: 2, Attempt: 1}}})
	})
	return s.Addr()
}

func TestCompleteJobIDs(t *testing.T) {
	t.Parallel()
	url := setup(t)
	out := complete(t, url, "show", "")
	require.True(t, strings.HasPrefix(out, "1\tbuild Done\n2\tRunning\n3\tQueued\n"), out)
	require.True(t, strings.HasSuffix(out, "11\tQueued\n:4\n"), out)

	// A prefix, and IDs already given left out.
	require.Equal(t, "1\tbuild Done\n10\tQueued\n11\tQueued\n:4\n", complete(t, url, "wait", "1"))
	require.Equal(t, "10\tQueued\n11\tQueued\n:4\n", complete(t, url, "stop", "1", "1"))
	require.Equal(t, ":4\n", complete(t, url, "logs", "1."))
	require.Equal(t, "2,1\tbuild Done\n2,10\tQueued\n2,11\tQueued\n:4\n", complete(t, url, "run", "--after", "2,1"))
	require.Equal(t, "1,2,3\tQueued\n:4\n", complete(t, url, "run", "--after", "1,2,3"), "given ones left out")
	// Commands that take no job IDs offer none.
	require.Equal(t, ":4\n", complete(t, url, "ls", ""))
}

func TestCompleteFlags(t *testing.T) {
	t.Parallel()
	url := setup(t)
	require.Equal(t, "Done\n:4\n", complete(t, url, "ls", "--state", "D"))
	require.Equal(t, "running,done\n:4\n", complete(t, url, "stop", "--state", "running,d"))
	require.Equal(t, "team=dev\nteam=ops\n:4\n", complete(t, url, "rm", "--label", "team="))
	require.Equal(t, "env=ci\nteam=dev\nteam=ops\n:4\n", complete(t, url, "run", "--label", ""))
	require.Equal(t, "default\ngpu\n:4\n", complete(t, url, "run", "--pool", ""))
	require.Equal(t, "gpu\n:4\n", complete(t, url, "submit", "--pool", "g"))
}

// Without a server completion offers what it knows and nothing else.
func TestCompleteNoServer(t *testing.T) {
	t.Parallel()
	const url = "127.0.0.1:1"
	require.Equal(t, ":4\n", complete(t, url, "show", ""))
	require.Equal(t, ":4\n", complete(t, url, "ls", "--label", ""))
	require.Equal(t, "default\n:4\n", complete(t, url, "run", "--pool", ""))
	require.Equal(t, "Queued\nQueuedHeld\n:4\n", complete(t, url, "ls", "--state", "Q"))
}

func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		env := clitest.NewEnv(t, "127.0.0.1:1", false)
		root := cli.NewRootCmd(env.F)
		root.SetArgs([]string{"completion", sh})
		require.NoError(t, root.Execute(), sh)
		require.Contains(t, env.Out.String(), "berth", sh)
		require.Contains(t, env.Out.String(), "__complete", sh)
	}
}
