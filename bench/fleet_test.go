package bench

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// BenchmarkRemoteWorker runs 2,000 `true` jobs through a remote worker (a
// separate `berth worker --nats` process on a state directory of its own,
// which streams output back) and through the server's in-process worker,
// 4 slots each, and reports the wall times; then the dispatch latency from
// submit to Running (the task's start as the server recorded it) over 100
// jobs submitted one at a time, each waited for. ns/op is the remote run.
func BenchmarkRemoteWorker(b *testing.B) {
	const (
		jobs   = 2000
		rounds = 100
	)
	ctx, cancel := context.WithTimeout(b.Context(), cmdTimeout)
	defer cancel()
	spec := job.Spec{Template: job.Template{Command: "true"}}

	run := func(s *testenv.Server) (wall time.Duration, lat []time.Duration) {
		c := s.Client()
		start := time.Now()
		ids := make([]int64, jobs)
		var wg sync.WaitGroup
		for w := range 4 {
			c := s.Client()
			wg.Go(func() {
				for i := w; i < jobs; i += 4 {
					j, err := c.Submit(ctx, spec)
					if err != nil {
						b.Errorf("submit: %v", err)
						return
					}
					ids[i] = j.ID
				}
			})
		}
		wg.Wait()
		if b.Failed() {
			b.FailNow()
		}
		for batch := range slices.Chunk(ids, 500) {
			if r, err := c.Wait(ctx, batch, false, 0); err != nil || r.TimedOut {
				b.Fatalf("waiting for %d jobs: %v %+v", len(batch), err, r)
			}
		}
		wall = time.Since(start)
		for range rounds {
			j, err := c.Submit(ctx, spec)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Wait(ctx, []int64{j.ID}, false, 0); err != nil {
				b.Fatal(err)
			}
			d, err := c.Task(ctx, job.Ref{Job: j.ID})
			if err != nil || d.StartedAt == nil {
				b.Fatalf("task of %d: %v", j.ID, err)
			}
			lat = append(lat, d.StartedAt.Sub(j.SubmittedAt))
		}
		slices.Sort(lat)
		return wall, lat
	}

	local := startServer(b, "--worker", "inprocess", "--slots", "4")
	localWall, localLat := run(local)
	local.Stop()

	remote := startServer(b, "--worker", "none", "--slots", "4")
	remote.StartWorker(b, "bench", "--log-level", "info", "--slots", "4", "--executor", "process")
	b.ResetTimer()
	remoteWall, remoteLat := run(remote)
	b.StopTimer()
	remote.Stop()

	// $BERTH_BENCH_BASELINE: the same remote run with another build.
	if bin := os.Getenv("BERTH_BENCH_BASELINE"); bin != "" {
		base := testenv.StartServerBin(b, bin, "--worker", "none", "--slots", "4", "--log-level", "info")
		// An older build may predate worker identities: a token then.
		args := []string{"--log-level", "info", "--slots", "4", "--executor", "process"}
		if tok := base.Dir.NATSToken(); fileExists(tok) {
			args = append(args, "--nats-token-file", tok)
		}
		base.StartWorker(b, "bench", args...)
		baseWall, baseLat := run(base)
		b.ReportMetric(remoteWall.Seconds()/baseWall.Seconds(), "ratio_vs_baseline")
		b.Logf("remote-worker vs baseline %s: %.2fs vs %.2fs (%.3fx); submit→Running p50 %.1fms vs %.1fms, p99 %.1fms vs %.1fms",
			bin, remoteWall.Seconds(), baseWall.Seconds(), remoteWall.Seconds()/baseWall.Seconds(),
			ms(percentile(remoteLat, 50)), ms(percentile(baseLat, 50)), ms(percentile(remoteLat, 99)), ms(percentile(baseLat, 99)))
	}

	b.ReportMetric(remoteWall.Seconds(), "remote_s")
	b.ReportMetric(localWall.Seconds(), "inprocess_s")
	b.ReportMetric(remoteWall.Seconds()/localWall.Seconds(), "ratio")
	b.ReportMetric(ms(percentile(remoteLat, 50)), "remote_p50_ms")
	b.ReportMetric(ms(percentile(remoteLat, 99)), "remote_p99_ms")
	b.Logf("remote-worker: %d jobs: remote worker %.2fs, in-process worker %.2fs (%.2fx); submit→Running over %d jobs: remote p50 %.1fms p99 %.1fms, in-process p50 %.1fms p99 %.1fms",
		jobs, remoteWall.Seconds(), localWall.Seconds(), remoteWall.Seconds()/localWall.Seconds(), rounds,
		ms(percentile(remoteLat, 50)), ms(percentile(remoteLat, 99)), ms(percentile(localLat, 50)), ms(percentile(localLat, 99)))
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
