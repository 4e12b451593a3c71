package bench

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-run/berth/openjd"
)

// openjdSpaceTemplate is a job of one step whose parameter space has
// 1,000,000 tasks: 1000 frames times 25 tiles (each zipped with its region
// name) times 40 layers.
func openjdSpaceTemplate() string {
	var regions, layers []string
	for i := range 25 {
		regions = append(regions, fmt.Sprintf("region%02d", i))
	}
	for i := range 40 {
		layers = append(layers, fmt.Sprintf("layer%02d", i))
	}
	return `specificationVersion: jobtemplate-2023-09
name: Space1M
parameterDefinitions:
- {name: Last, type: INT, default: 1000}
steps:
- name: Render
  parameterSpace:
    taskParameterDefinitions:
    - {name: Frame, type: INT, range: "1-{{Param.Last}}"}
    - {name: Tile, type: INT, range: "1-25"}
    - {name: Region, type: STRING, range: [` + strings.Join(regions, ", ") + `]}
    - {name: Layer, type: STRING, range: [` + strings.Join(layers, ", ") + `]}
    combination: "Frame * (Tile, Region) * Layer"
  script:
    actions:
      onRun: {command: render, args: ["{{Task.Param.Frame}}", "{{Task.Param.Tile}}", "{{Task.Param.Region}}", "{{Task.Param.Layer}}"]}
`
}

// BenchmarkOpenJDSpace1M creates a job from a template whose step has a
// parameter space of 1,000,000 tasks, counts them (what `berth openjd
// summary` does) and then walks every task, formatting each value as a
// format string would see it. It reports the time of each part and the
// peak heap while it runs. Targets: < 1 s for both, < 64 MB peak. ns/op
// covers both parts.
func BenchmarkOpenJDSpace1M(b *testing.B) {
	tmpl := []byte(openjdSpaceTemplate())
	var summary, walk time.Duration
	var peak uint64
	for i := 0; i < b.N; i++ {
		runtime.GC()
		stop := samplePeakHeap(&peak)
		t0 := time.Now()
		jt, err := openjd.ParseJobTemplate(tmpl, openjd.Options{})
		if err != nil {
			b.Fatal(err)
		}
		job, err := openjd.CreateJob(jt, openjd.JobInput{TemplateDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		space := job.Steps[0].Space
		if n := job.Steps[0].TaskCount(); n != 1_000_000 {
			b.Fatalf("%d tasks, want 1000000", n)
		}
		t1 := time.Now()
		var chars, tasks int64
		for _, vals := range space.All() {
			for _, v := range vals {
				chars += int64(len(v.String()))
			}
			tasks++
		}
		t2 := time.Now()
		stop()
		if tasks != 1_000_000 || chars == 0 {
			b.Fatalf("walked %d tasks", tasks)
		}
		summary, walk = t1.Sub(t0), t2.Sub(t1)
	}
	peakMB := float64(peak) / (1 << 20)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(summary.Seconds(), "summary_s")
	b.ReportMetric(walk.Seconds(), "iterate_s")
	b.ReportMetric(peakMB, "peak_heap_mb")
	b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss_mb")
	b.Logf("openjd-space-1m: job creation and summary %.3f ms, walk of 1000000 tasks %.3f s (target < 1 s); "+
		"peak heap %.1f MB (target < 64), process max RSS %.1f MB",
		float64(summary)/float64(time.Millisecond), walk.Seconds(), peakMB, float64(ru.Maxrss)/1024)
}

// samplePeakHeap records the largest heap in use into *peak until the
// returned function is called.
func samplePeakHeap(peak *uint64) func() {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		*peak = max(*peak, ms.HeapInuse)
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
		sample()
	}
}
