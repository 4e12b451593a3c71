package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// TestDiskFull runs berth serve with its data directory on a small tmpfs
// and JetStream's store on another, and fills each in turn. The end of a
// job that runs while the store's disk is full is not acknowledged, and is
// recorded once space returns; a submit then is refused, never half taken;
// the health says why; work published while JetStream's disk is full breaks
// the work stream, which is made anew once space returns, without a
// restart. No job runs twice, nothing acknowledged is lost.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	home := testenv.SmallDisk(t, 16<<20)
	natsDir := filepath.Join(home, "nats")
	require.NoError(t, os.Mkdir(natsDir, 0o700))
	testenv.SmallDiskAt(t, natsDir, 8<<20)
	e := newGated(t, testenv.StartServerIn(t, home, "--slots", "2"))
	s, c, ctx, submit, state, ranOnce, gate := e.s, e.c, e.ctx, e.submit, e.state, e.ranOnce, e.gate

	// The store's disk fills while a job runs; the job's output then
	// cannot be written either.
	a, err := submit("dd if=/dev/zero bs=1k count=64 2>/dev/null")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(s.Dir.TaskFile(a, 0, datadir.StdoutFile))
		return string(b) == "before\n"
	}, 20*time.Second, 20*time.Millisecond)
	filler := testenv.FillDisk(t, home)
	_, err = submit("")
	require.ErrorContains(t, err, "full", "a submit that cannot be recorded is refused")
	h, err := c.Health(ctx)
	require.NoError(t, err)
	require.Equal(t, "degraded", h.Status)
	require.Contains(t, h.Store, "disk full")
	require.NoError(t, os.WriteFile(gate, nil, 0o600))
	time.Sleep(2 * time.Second) // the job ends; its end cannot be recorded
	require.Equal(t, job.Running, state(a))
	filler.Free()
	if !within(30*time.Second, func() bool { return state(a) == job.Done }) {
		t.Fatalf("the worker's retry of the end is not recorded once space returns\n%s", s.Dump())
	}
	ranOnce(a)
	require.Contains(t, taskOf(t, s, fmt.Sprint(a)).Message, job.OutputIncomplete+"write "+s.Dir.TaskFile(a, 0, datadir.StdoutFile)+": no space left on device",
		"the output cut by the full disk is on the record")
	r := s.Berth("", "logs", fmt.Sprint(a))
	require.Equal(t, 0, r.Code, r.Stderr)
	require.True(t, strings.HasPrefix(r.Stdout, "before\n"))
	require.Less(t, len(r.Stdout), len("before\n")+64<<10, "the output is cut")
	require.Contains(t, r.Stderr, "the output of "+fmt.Sprint(a)+" is incomplete: write ")
	require.Contains(t, s.Berth("", "show", fmt.Sprint(a)).Stdout, job.OutputIncomplete)
	h, err = c.Health(ctx)
	require.NoError(t, err)
	require.Equal(t, "ok", h.Status, "%+v", h)

	// JetStream's disk fills: jobs submitted then are recorded, and their
	// work (a small message each: JetStream writes it with the next) soon
	// cannot be written, which breaks the stream.
	nf := testenv.FillDisk(t, natsDir)
	var bs []int64
	require.Eventually(t, func() bool {
		b, err := submit("")
		require.NoError(t, err)
		bs = append(bs, b)
		h, err := c.Health(ctx)
		return err == nil && h.Dispatch != ""
	}, 30*time.Second, 100*time.Millisecond, "the health tells of the broken stream\n%s", s.Log())
	nf.Free()
	for _, b := range bs {
		if !within(60*time.Second, func() bool { return state(b) == job.Done }) {
			t.Fatalf("dispatch does not resume without a restart\n%s", s.Dump())
		}
		ranOnce(b)
	}
	require.Contains(t, s.Log(), "work stream made anew")
	h, err = c.Health(ctx)
	require.NoError(t, err)
	require.Equal(t, "ok", h.Status, "%+v", h)

	// After a restart nothing runs again, and new work runs.
	s.Stop()
	s.Start()
	d, err := submit("")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return state(d) == job.Done }, 30*time.Second, 50*time.Millisecond)
	for _, id := range append(bs, a, d) {
		ranOnce(id)
	}
}

// within reports whether cond holds within d, trying every 50 ms.
func within(d time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// gated runs jobs that leave a mark per run in a directory of their own,
// write "before", wait for a gate file, and then run a script.
type gated struct {
	t           *testing.T
	s           *testenv.Server
	c           *client.Client
	ctx         context.Context
	marks, gate string
}

func newGated(t *testing.T, s *testenv.Server) *gated {
	marks := testenv.ShortTempDir(t)
	return &gated{t: t, s: s, c: s.Client(), ctx: context.Background(), marks: marks, gate: filepath.Join(marks, "gate")}
}

// submit submits a job that runs then after the gate, with env's values in
// variables of its own.
func (g *gated) submit(then string, env ...string) (int64, error) {
	script := fmt.Sprintf(`echo run >> %s/mark.$BERTH_JOB_ID; echo before; while [ ! -e %s ]; do sleep 0.05; done; %s`, g.marks, g.gate, then)
	spec := job.Spec{Template: job.Template{Command: "sh", Args: []string{"-c", script}, Env: map[string]string{}}}
	for i, v := range env {
		spec.Template.Env[fmt.Sprintf("V%d", i)] = v
	}
	j, err := g.c.Submit(g.ctx, spec)
	if err != nil {
		return 0, err
	}
	return j.ID, nil
}

func (g *gated) state(id int64) job.State {
	j, err := g.c.Job(g.ctx, id)
	require.NoError(g.t, err, "reads are served")
	return j.State
}

// ranOnce checks that job id ran once, as its first attempt.
func (g *gated) ranOnce(id int64) {
	g.t.Helper()
	b, err := os.ReadFile(filepath.Join(g.marks, fmt.Sprintf("mark.%d", id)))
	require.NoError(g.t, err)
	require.Equal(g.t, 1, strings.Count(string(b), "run"), "job %d ran once", id)
	require.Equal(g.t, 1, taskOf(g.t, g.s, fmt.Sprint(id)).Attempt)
}

// TestDiskFullOneDisk fills the one small tmpfs that holds all of
// BERTH_HOME (store and JetStream) while a job runs and another waits for
// its slot: the running job's end is recorded once space returns, then the
// waiting job is dispatched and runs, and after a restart nothing runs
// again.
func TestDiskFullOneDisk(t *testing.T) {
	t.Parallel()
	home := testenv.SmallDisk(t, 24<<20)
	g := newGated(t, testenv.StartServerIn(t, home, "--slots", "1"))
	a, err := g.submit("")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return g.state(a) == job.Running }, 20*time.Second, 20*time.Millisecond)
	b, err := g.submit("")
	require.NoError(t, err)

	filler := testenv.FillDisk(t, home)
	_, err = g.submit("")
	require.ErrorContains(t, err, "full")
	require.NoError(t, os.WriteFile(g.gate, nil, 0o600))
	time.Sleep(2 * time.Second) // a ends; its end cannot be recorded
	require.Equal(t, job.Running, g.state(a))
	require.Equal(t, job.Queued, g.state(b))
	filler.Free()
	if !within(60*time.Second, func() bool { return g.state(a) == job.Done && g.state(b) == job.Done }) {
		t.Fatalf("a's end is not recorded or b not run once space returns\n%s", g.s.Dump())
	}
	g.s.Stop()
	g.s.Start()
	d, err := g.submit("")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return g.state(d) == job.Done }, 30*time.Second, 50*time.Millisecond)
	for _, id := range []int64{a, b, d} {
		g.ranOnce(id)
	}
}
