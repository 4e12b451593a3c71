package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/stretchr/testify/require"
)

// TestSuccess: a job produced with kcat in the scheduler's format gets
// running, then finished with the script's stdout and stderr, both keyed
// by the jobId.
func TestSuccess(t *testing.T) {
	t.Parallel()
	tb := setup(t, 1)
	tb.start(t, tb.cfg)
	id := newJobID()
	tb.produce(t, id, `{"jobId": "`+id+`", "script": "echo out; echo err >&2", "jobConfig": {"nugetConfigXml": "<configuration/>"}}`)

	r := tb.running.For(id, 30*time.Second)
	require.JSONEq(t, `{"jobId": "`+id+`"}`, r.Value)
	m := tb.finished.For(id, 30*time.Second)
	require.JSONEq(t, `{"jobId": "`+id+`", "status": "ACCEPTED", "scriptResults": {"finishedWith": "SUCCEEDED", "stdout": "out\n", "stderr": "err\n"}}`, m.Value)
	require.Eventually(t, func() bool { return tb.committed(t, 0) == 1 }, 10*time.Second, 20*time.Millisecond)
}

// TestScriptResults covers how scripts end: a non-zero exit, the time
// limit, the config file beside the script on a read-only mount, no
// network, and the resource limits.
func TestScriptResults(t *testing.T) {
	t.Parallel()
	tb := setup(t, 1, "timeLimit: 2s")
	tb.start(t, tb.cfg)
	failed, slow, nuget, limits := newJobID(), newJobID(), newJobID(), newJobID()
	tb.produce(t, failed, pendingJob(failed, "echo partial; echo oops >&2; exit 3"))
	tb.produce(t, slow, pendingJob(slow, "echo before; sleep 30; echo after"))
	tb.produce(t, nuget, map[string]any{"jobId": nuget, "unknown": true,
		"script":    "cat /tmp/script/NuGet.Config; echo; ls /tmp/script; touch /tmp/script/x; wget -q -T 1 http://1.1.1.1/ || echo no network",
		"jobConfig": map[string]any{"nugetConfigXml": `<?xml version="1.0"?><configuration/>`, "other": "ignored"}})
	tb.produce(t, limits, pendingJob(limits, "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/pids.max 2>/dev/null; grep NoNewPrivs /proc/self/status"))

	start := time.Now()
	got := map[string]*Finished{}
	for len(got) < 4 {
		m := tb.finished.Next(30 * time.Second)
		got[m.Key] = decodeFinished(t, m.Value)
	}
	require.Equal(t, &Finished{JobID: failed, Status: StatusAccepted, ScriptResults: &ScriptResults{
		FinishedWith: FinishedFailed, Stdout: "partial\n", Stderr: "oops\n"}}, got[failed])

	require.Equal(t, FinishedTimeLimitExceeded, got[slow].ScriptResults.FinishedWith)
	require.Equal(t, "before\n", got[slow].ScriptResults.Stdout)
	require.Less(t, time.Since(start), 20*time.Second, "the time limit stops the script")

	res := got[nuget].ScriptResults
	require.Equal(t, FinishedSucceeded, res.FinishedWith, res.Stderr)
	require.Equal(t, "<?xml version=\"1.0\"?><configuration/>\nNuGet.Config\nmain.sh\nno network\n", res.Stdout)
	require.Contains(t, res.Stderr, "Read-only file system")

	res = got[limits].ScriptResults
	require.Equal(t, "100\nNoNewPrivs:\t1\n", res.Stdout)
}

// TestMalformed: messages that are not JSON or lack a jobId are skipped
// (and committed); one without a script is REJECTED; the worker goes on
// with the next good message.
func TestMalformed(t *testing.T) {
	t.Parallel()
	tb := setup(t, 1)
	tb.start(t, tb.cfg)
	rejected, good := newJobID(), newJobID()
	tb.produce(t, "k1", "not json at all")
	tb.produce(t, "k2", `{"script": "echo no id"}`)
	tb.produce(t, "k3", `{"jobId": 42, "script": "echo number"}`)
	tb.produce(t, "k4", `[1, 2]`)
	tb.produce(t, rejected, `{"jobId": "`+rejected+`"}`)
	tb.produce(t, good, pendingJob(good, "echo fine"))

	m := tb.finished.For(rejected, 30*time.Second)
	require.JSONEq(t, `{"jobId": "`+rejected+`", "status": "REJECTED"}`, m.Value)
	require.Equal(t, "fine\n", tb.finishedFor(t, good, 30*time.Second).ScriptResults.Stdout)
	require.Eventually(t, func() bool { return tb.committed(t, 0) == 6 }, 10*time.Second, 50*time.Millisecond)
	_, more := tb.finished.NextOrNone(300 * time.Millisecond)
	require.False(t, more, "no answer to malformed messages")
	require.Contains(t, tb.log.String(), "skipping a message")
}

// TestJobIDs: answers are keyed by the jobId as the original writes it, a
// lower-case UUID, whatever the case it came in (and whatever the pending
// message's key); a jobId that is not a UUID is answered REJECTED, keyed
// by the jobId as written.
func TestJobIDs(t *testing.T) {
	t.Parallel()
	tb := setup(t, 1)
	tb.start(t, tb.cfg)
	lower := newJobID()
	upper := strings.ToUpper(lower)
	tb.produce(t, "some other key", pendingJob(upper, "echo upper"))
	tb.produce(t, "job-1", pendingJob("job-1", "echo never"))

	r := tb.running.For(lower, 30*time.Second)
	require.JSONEq(t, `{"jobId": "`+lower+`"}`, r.Value)
	m := tb.finished.For(lower, 30*time.Second)
	require.JSONEq(t, `{"jobId": "`+lower+`", "status": "ACCEPTED", "scriptResults": {"finishedWith": "SUCCEEDED", "stdout": "upper\n", "stderr": ""}}`, m.Value)
	m = tb.finished.For("job-1", 30*time.Second)
	require.JSONEq(t, `{"jobId": "job-1", "status": "REJECTED"}`, m.Value)
	require.Eventually(t, func() bool { return tb.committed(t, 0) == 2 }, 10*time.Second, 50*time.Millisecond)
	for _, m := range tb.running.All() {
		require.NotEqual(t, "job-1", m.Key, "a rejected job does not run")
	}
	require.Contains(t, tb.log.String(), "jobId: not a UUID")
}

// TestCapacity: with every container slot taken, a job that gets none
// within the capacity timeout is answered REJECTED, as the original does;
// the next job after the slot frees runs.
func TestCapacity(t *testing.T) {
	t.Parallel()
	tb := setup(t, 1, "maxConcurrent: 1")
	cfg := tb.cfg
	cfg.CapacityTimeout = 300 * time.Millisecond
	tb.start(t, cfg)
	busy, turnedAway, later := newJobID(), newJobID(), newJobID()
	tb.produce(t, busy, pendingJob(busy, "sleep 8; echo done"))
	tb.running.For(busy, 30*time.Second)
	tb.produce(t, turnedAway, pendingJob(turnedAway, "echo never"))

	m := tb.finished.For(turnedAway, 30*time.Second)
	require.JSONEq(t, `{"jobId": "`+turnedAway+`", "status": "REJECTED"}`, m.Value)
	require.Equal(t, "done\n", tb.finishedFor(t, busy, 30*time.Second).ScriptResults.Stdout)
	tb.produce(t, later, pendingJob(later, "echo later"))
	require.Equal(t, "later\n", tb.finishedFor(t, later, 30*time.Second).ScriptResults.Stdout)
	require.Eventually(t, func() bool { return tb.committed(t, 0) == 3 }, 10*time.Second, 50*time.Millisecond)
	for _, m := range tb.running.All() {
		require.NotEqual(t, turnedAway, m.Key, "a rejected job does not run")
	}
	require.Contains(t, tb.log.String(), "no container slot freed in time")
}

// TestSandboxResources: with resource limits on, the sandbox's container
// gets the original's settings besides the limits (memory reservation,
// CPU shares, block I/O weight); with them off, none of the six.
func TestSandboxResources(t *testing.T) {
	t.Parallel()
	for _, limits := range []bool{true, false} {
		t.Run(fmt.Sprint("limits=", limits), func(t *testing.T) {
			t.Parallel()
			tb := setup(t, 1)
			cfg := tb.cfg
			cfg.NoResourceLimits = !limits
			cfg.DrainTimeout = 10 * time.Millisecond // the script is stopped at the end
			tb.start(t, cfg)
			id := newJobID()
			tb.produce(t, id, pendingJob(id, "sleep 60"))
			tb.running.For(id, 30*time.Second)
			ids := containers(t, tb.docker, instanceOf(t, cfg.StateDir))
			require.Len(t, ids, 1)
			res, err := tb.docker.ContainerInspect(context.Background(), ids[0], client.ContainerInspectOptions{})
			require.NoError(t, err)
			hc := res.Container.HostConfig
			if !limits {
				require.Zero(t, hc.Memory+hc.NanoCPUs+hc.MemoryReservation+hc.CPUShares+int64(hc.BlkioWeight))
				require.Nil(t, hc.PidsLimit)
				return
			}
			require.Equal(t, int64(MemoryDefault), hc.Memory)
			require.Equal(t, int64(CPUsDefault*1e9), hc.NanoCPUs)
			require.Equal(t, int64(PidsDefault), *hc.PidsLimit)
			require.Equal(t, int64(MemoryReservationDefault), hc.MemoryReservation)
			require.Equal(t, int64(CPUSharesDefault), hc.CPUShares)
			// An engine that cannot weigh block I/O drops the weight, and
			// says so; the worker logs it.
			if hc.BlkioWeight == 0 {
				require.Contains(t, tb.log.String(), "Block I/O weight")
			} else {
				require.Equal(t, uint16(BlkioWeightDefault), hc.BlkioWeight)
			}
		})
	}
}

// TestDuplicate: a job delivered again is answered with the same finished
// message, without running again: while it runs, and after it finished.
func TestDuplicate(t *testing.T) {
	t.Parallel()
	tb := setup(t, 1)
	tb.start(t, tb.cfg)
	id := newJobID()
	msg := pendingJob(id, "sleep 1; echo once")
	tb.produce(t, id, msg)
	tb.produce(t, id, msg) // while the first runs
	first := tb.finished.For(id, 30*time.Second)
	second := tb.finished.For(id, 30*time.Second)
	require.Equal(t, first.Value, second.Value)
	require.Equal(t, "once\n", decodeFinished(t, first.Value).ScriptResults.Stdout)

	tb.produce(t, id, pendingJob(id, "echo twice")) // after it finished
	third := tb.finished.For(id, 30*time.Second)
	require.Equal(t, first.Value, third.Value)

	tb.running.For(id, 10*time.Second)
	_, again := tb.running.NextOrNone(500 * time.Millisecond)
	require.False(t, again, "the job ran once")
	require.Eventually(t, func() bool { return tb.committed(t, 0) == 3 }, 10*time.Second, 50*time.Millisecond)
}

// TestConcurrentPartitions runs jobs of two partitions at once, ending out
// of order, and commits each partition through its last job.
func TestConcurrentPartitions(t *testing.T) {
	t.Parallel()
	tb := setup(t, 2, "maxConcurrent: 3")
	_, stop := tb.start(t, tb.cfg)
	ids := map[string]bool{}
	for i, d := range []string{"2", "0", "1", "0", "1.5", "0"} {
		id := newJobID()
		ids[id] = true
		v, err := json.Marshal(pendingJob(id, "sleep "+d+"; echo "+string(rune('a'+i))))
		require.NoError(t, err)
		testenv.KcatProduceTo(t, tb.broker, PendingTopic(testSandbox), int32(i%2), id, string(v))
	}
	for range len(ids) {
		m := tb.finished.Next(60 * time.Second)
		require.True(t, ids[m.Key], m.Key)
		delete(ids, m.Key)
		require.Equal(t, FinishedSucceeded, decodeFinished(t, m.Value).ScriptResults.FinishedWith)
	}
	require.NoError(t, stop())
	for p := range int32(2) {
		require.Equal(t, int64(3), tb.endOffset(t, p))
		require.Equal(t, int64(3), tb.committed(t, p), "partition %d committed through its last job", p)
	}
}

// TestOutputLimit caps each stream; the cut is marked.
func TestOutputLimit(t *testing.T) {
	t.Parallel()
	tb := setup(t, 1, "outputLimit: 1KiB")
	tb.start(t, tb.cfg)
	id := newJobID()
	tb.produce(t, id, pendingJob(id, "i=0; while [ $i -lt 500 ]; do echo 0123456789; i=$((i+1)); done; echo small >&2"))
	f := tb.finishedFor(t, id, 30*time.Second)
	require.Equal(t, FinishedSucceeded, f.ScriptResults.FinishedWith)
	require.True(t, strings.HasPrefix(f.ScriptResults.Stdout, "0123456789\n0123456789\n"))
	require.True(t, strings.HasSuffix(f.ScriptResults.Stdout, "[berth: output truncated at 1024 bytes]\n"), f.ScriptResults.Stdout)
	require.Less(t, len(f.ScriptResults.Stdout), 1100)
	require.Equal(t, "small\n", f.ScriptResults.Stderr)
}

// TestImageMissing: a sandbox whose image is not there ends its jobs
// FAILED, the reason in stderr.
func TestImageMissing(t *testing.T) {
	t.Parallel()
	tb := setup(t, 1)
	cfg := tb.cfg
	sb := *cfg.Sandbox
	sb.Image = "berth-test/no-such-image:latest"
	cfg.Sandbox = &sb
	tb.start(t, cfg)
	id := newJobID()
	tb.produce(t, id, pendingJob(id, "echo hi"))
	f := tb.finishedFor(t, id, 30*time.Second)
	require.Equal(t, FinishedFailed, f.ScriptResults.FinishedWith)
	require.Contains(t, f.ScriptResults.Stderr, "IMAGE_NOT_FOUND")
	require.Contains(t, f.ScriptResults.Stderr, "berth-test/no-such-image:latest")
	_, ran := tb.running.NextOrNone(200 * time.Millisecond)
	require.False(t, ran, "no running message: the sandbox never started")
}

// TestDrainAndCleanup: on stop, a running script finishes within the drain
// timeout and is answered; one past it is stopped, left uncommitted, and
// runs again on the next start, which first removes what the stopped
// worker left (a container and a job directory planted here).
func TestDrainAndCleanup(t *testing.T) {
	t.Parallel()
	tb := setup(t, 1, "timeLimit: 1s")
	cfg := tb.cfg
	sb := *cfg.Sandbox
	sb.TimeLimit = time.Minute
	cfg.Sandbox = &sb
	cfg.DrainTimeout = 3 * time.Second
	w, stop := tb.start(t, cfg)
	quick, slow := newJobID(), newJobID()
	tb.produce(t, quick, pendingJob(quick, "sleep 1; echo quick"))
	tb.produce(t, slow, pendingJob(slow, "echo slow; sleep 60"))
	tb.running.For(quick, 30*time.Second)
	tb.running.For(slow, 30*time.Second)
	stopped := time.Now()
	require.NoError(t, stop())
	require.Less(t, time.Since(stopped), 15*time.Second)
	require.Equal(t, "quick\n", tb.finishedFor(t, quick, time.Second).ScriptResults.Stdout)
	_, answered := tb.finished.NextOrNone(200 * time.Millisecond)
	require.False(t, answered, "the slow job is not answered")
	require.Equal(t, int64(1), tb.committed(t, 0), "the slow job is not committed")
	require.Empty(t, containers(t, tb.docker, w.instance), "the slow job's container is removed")

	// What a killed worker would have left.
	ctx := context.Background()
	created, err := tb.docker.ContainerCreate(ctx, client.ContainerCreateOptions{
		Config: &container.Config{Image: cfg.Sandbox.Image, Cmd: []string{"sleep", "60"},
			Labels: map[string]string{"berth.executor": w.instance, "berth.task": "left-1"}},
	})
	require.NoError(t, err)
	_, err = tb.docker.ContainerStart(ctx, created.ID, client.ContainerStartOptions{})
	require.NoError(t, err)
	leftDir := filepath.Join(cfg.StateDir, "jobs", w.instance+".left-1")
	otherDir := filepath.Join(cfg.StateDir, "jobs", "not-ours")
	require.NoError(t, os.MkdirAll(filepath.Join(leftDir, "script"), 0o755))
	require.NoError(t, os.MkdirAll(otherDir, 0o755))

	tb.start(t, tb.cfg) // the same state directory; a time limit of 1s
	f := tb.finishedFor(t, slow, 40*time.Second)
	require.Equal(t, FinishedTimeLimitExceeded, f.ScriptResults.FinishedWith)
	require.Equal(t, "slow\n", f.ScriptResults.Stdout)
	_, err = tb.docker.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
	require.Error(t, err, "the leftover container is removed")
	require.NoDirExists(t, leftDir)
	require.DirExists(t, otherDir)
	require.Eventually(t, func() bool { return tb.committed(t, 0) == 2 }, 10*time.Second, 50*time.Millisecond)
}

// TestMessageFormat checks the JSON of the answers field by field, as a
// scheduler written in another language reads it.
func TestMessageFormat(t *testing.T) {
	t.Parallel()
	var v map[string]any
	require.NoError(t, json.Unmarshal(encodeFinished(&Finished{JobID: "j", Status: StatusAccepted,
		ScriptResults: &ScriptResults{FinishedWith: FinishedFailed, Stdout: "a", Stderr: "b"}}, 0), &v))
	require.Equal(t, map[string]any{"jobId": "j", "status": "ACCEPTED",
		"scriptResults": map[string]any{"finishedWith": "FAILED", "stdout": "a", "stderr": "b"}}, v)
}
