package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// trueSteps writes a job template of one step of n tasks of true.
func trueSteps(b *testing.B, dir string, n int) string {
	b.Helper()
	p := filepath.Join(dir, fmt.Sprintf("true%d.yaml", n))
	tmpl := fmt.Sprintf(`specificationVersion: jobtemplate-2023-09
name: True%d
steps:
- name: T
  parameterSpace:
    taskParameterDefinitions: [{name: N, type: INT, range: "1-%d"}]
  script: {actions: {onRun: {command: "true"}}}
`, n, n)
	if err := os.WriteFile(p, []byte(tmpl), 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkSessions1000 submits a step of 1000 tasks of true to a server
// with two slots (berth submit --wait): two process sessions run them all,
// each task in the session's environment, against `berth run --each` of the
// same 1000 true, one process job each. Target: berth submit <= 1.0x. The
// median of alternating rounds is compared.
func BenchmarkSessions1000(b *testing.B) {
	s := startServer(b, "--slots", "2")
	dir := b.TempDir()
	tmpl := trueSteps(b, dir, 1000)
	file := writeLines(b, filepath.Join(dir, "in1000"), 1000)
	submit := func() time.Duration {
		return timeCmd(b, s.Env(), "", s.Bin, "submit", tmpl, "--wait", "--max-parallel", "2")
	}
	each := func() time.Duration {
		return timeCmd(b, s.Env(), "", s.Bin, "run", "--each", file, "--max-parallel", "2", "--", "true", "{}")
	}
	submit()
	each()
	const rounds = 3
	var rs, re []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range rounds {
			b.StartTimer()
			rs = append(rs, submit())
			b.StopTimer()
			re = append(re, each())
		}
	}
	sub, ea := median(rs).Seconds(), median(re).Seconds()
	b.ReportMetric(sub, "submit_s")
	b.ReportMetric(ea, "each_s")
	b.ReportMetric(sub/ea, "ratio_vs_each")
	b.Logf("sessions-1000 (%d rounds, median / best): berth submit (process sessions) %.2fs / %.2fs, berth run --each %.2fs / %.2fs: %.2fx / %.2fx (target <= 1.0)",
		len(rs), sub, slices.Min(rs).Seconds(), ea, slices.Min(re).Seconds(), sub/ea, slices.Min(rs).Seconds()/slices.Min(re).Seconds())
}
