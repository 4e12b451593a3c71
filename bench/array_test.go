package bench

import (
	"context"
	"testing"
	"time"

	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/job"
)

// BenchmarkArray10M submits a held array of 10,000,000 tasks, releases it,
// stops it, and restarts the server with the stopped job in its store, then
// with the array held again: each step must take well under a second (the
// target is 1 s) and the server's peak resident memory stay under 100 MB,
// since an array's tasks not yet started are kept as ranges (see
// store/ranges.go). ns/op is the submit.
func BenchmarkArray10M(b *testing.B) {
	const tasks = 10_000_000
	for range b.N {
		b.StopTimer()
		s := startServer(b)
		c := s.Client()
		pid, err := serverPID(s)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(b.Context(), cmdTimeout)
		spec := job.Spec{
			Name:     "bench-10m",
			Template: job.Template{Command: "true"},
			Array:    &job.Array{Begin: 1, End: tasks, Step: 1},
			Hold:     true,
		}
		timed := func(what string, fn func() error) time.Duration {
			start := time.Now()
			if err := fn(); err != nil {
				b.Fatalf("%s: %v", what, err)
			}
			return time.Since(start)
		}
		var j *job.Job
		b.StartTimer()
		dSubmit := timed("submitting", func() (err error) { j, err = c.Submit(ctx, spec); return err })
		b.StopTimer()
		ref := job.Ref{Job: j.ID}
		rssHeld := rssMB(b, pid)
		dRelease := timed("releasing", func() error { _, err := c.Control(ctx, ref, job.Release); return err })
		dStop := timed("stopping", func() error { _, err := c.Stop(ctx, ref, client.StopParams{}); return err })
		peak := peakRSSMB(b, pid)
		got, err := c.Job(ctx, j.ID)
		if err != nil {
			b.Fatal(err)
		}
		if n := got.Tasks[job.Failed] + got.Tasks[job.Done] + got.Tasks[job.Running]; n != tasks {
			b.Fatalf("after the stop: tasks %v, want %d in all", got.Tasks, tasks)
		}

		// A restart with a held array of the same size in the store.
		held, err := c.Submit(ctx, spec)
		if err != nil {
			b.Fatal(err)
		}
		s.Stop()
		dRestart := timed("restarting", func() error { s.Start(); _, err := c.Job(ctx, held.ID); return err })
		if pid, err = serverPID(s); err != nil {
			b.Fatal(err)
		}
		if got, err := c.Job(ctx, held.ID); err != nil || got.Tasks[job.QueuedHeld] != tasks {
			b.Fatalf("after the restart: %+v, %v", got, err)
		}
		dStop2 := timed("stopping after the restart", func() error { _, err := c.Stop(ctx, job.Ref{Job: held.ID}, client.StopParams{}); return err })
		peak = max(peak, peakRSSMB(b, pid))
		cancel()
		s.Stop()

		b.ReportMetric(dSubmit.Seconds(), "submit_s")
		b.ReportMetric(dRelease.Seconds(), "release_s")
		b.ReportMetric(dStop.Seconds(), "stop_s")
		b.ReportMetric(dRestart.Seconds(), "restart_s")
		b.ReportMetric(peak, "peak_rss_mb")
		b.Logf("array-10m: submit %.3fs, release %.3fs, stop %.3fs, restart %.3fs, stop after restart %.3fs (target < 1s each); "+
			"server RSS %.0f MB held, peak %.0f MB (target < 100)",
			dSubmit.Seconds(), dRelease.Seconds(), dStop.Seconds(), dRestart.Seconds(), dStop2.Seconds(), rssHeld, peak)
	}
}
