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

// BenchmarkReload reports what undoing a failed commit costs: a reload of
// the state from a store of 10,000 queued (held) jobs.
func BenchmarkReload(b *testing.B) {
	const n = 10000
	bb := setup(b, Config{})
	for range n {
		spec := job.Spec{Name: "job", Hold: true, Template: job.Template{Command: "sh", Args: []string{"-c", "echo hello"}}}
		if _, err := bb.s.Submit(bb.ctx, spec); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		bb.s.mu.Lock()
		err := bb.s.reloadLocked(bb.ctx, nil)
		bb.s.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}
