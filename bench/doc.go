// Package bench holds berth's benchmarks: a real `berth serve` (built from
// this checkout by internal/testenv) measured against the tools it stands in
// for (xargs -P, GNU parallel) in the same run, and on its own for submit
// throughput, server memory and wait latency.
//
// Each benchmark does its whole comparison in one iteration, so it is meant
// to run with -benchtime 1x (make bench):
//
//	go test -run '^$' -bench . -benchtime 1x -timeout 30m ./bench/
//
// The figures that matter are the reported metrics (berth_s, ratio_vs_xargs,
// tasks_per_s, rss_mb_100k_queued, p99_ms, ...) and the line each benchmark
// logs; ns/op covers only the part timed for berth. They are wall times on
// whatever else the machine is doing: compare them within one run, not
// across machines.
package bench
