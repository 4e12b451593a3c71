package scheduler

import (
	"runtime"
	"testing"

	"github.com/berth-run/berth/job"
)

// BenchmarkQueuedJobMemory reports the scheduler's heap per queued (held)
// plain job, the figure behind the server's RSS with many queued jobs.
func BenchmarkQueuedJobMemory(b *testing.B) {
	const n = 10000
	bb := setup(b, Config{})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		spec := job.Spec{Name: "job", Hold: true, Template: job.Template{Command: "sh", Args: []string{"-c", "echo hello"}}}
		_ = i
		if _, err := bb.s.Submit(bb.ctx, spec); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap_bytes/job")
}
