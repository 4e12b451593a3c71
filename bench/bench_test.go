package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// gnuParallel is where GNU parallel is expected (moreutils ships another
// program named parallel, which takes other arguments).
const gnuParallel = "/usr/bin/parallel"

// cmdTimeout bounds every command and API call of a benchmark, so that a
// hang fails it instead of eating the whole -timeout.
const cmdTimeout = 5 * time.Minute

// BenchmarkEach1000 runs 1000 trivial tasks two at a time with
// `berth run --each` (under --sync user, the default, and --sync normal),
// `xargs -P2` and GNU `parallel -j2`, and reports the wall times and
// ratios, and berth's own CPU per task (server and local worker) beside
// the job's. Targets: berth at most 1.5x xargs, at least 2x faster than
// parallel; server and worker CPU at most 0.45 ms per task together.
// ns/op is berth's time (--sync user).
//
// On a quiet machine berth took 1.98x xargs, with 0.47 ms of server CPU
// and 0.43 ms of worker CPU per task (the job itself 1.0 ms). Profiled
// here, half the server's went to `berth run`'s progress line reading the
// job after each burst of events. With it read at most every 200 ms and
// the local worker's per-task mkdir and (second run only) JSON encoding
// of its journal gone, two runs against the build before on a loaded
// machine (load average 8-30, the job itself 5.3-5.5 ms) gave server 1.94
// and 1.91 ms against 4.01 and 3.96, worker 1.86 and 1.84 against 2.02
// and 1.93, wall time 0.84x and 0.77x.
func BenchmarkEach1000(b *testing.B) {
	xargs, xerr := exec.LookPath("xargs")
	haveXargs := xerr == nil
	haveParallel := isGNUParallel(gnuParallel)
	if !haveXargs && !haveParallel {
		b.Skip("neither xargs nor GNU parallel (" + gnuParallel + ") is installed")
	}
	if !haveXargs {
		b.Log("xargs not found: that comparison is skipped")
	}
	if !haveParallel {
		b.Log("GNU parallel not at " + gnuParallel + ": that comparison is skipped")
	}

	s := startServer(b, "--slots", "2")
	sn := startServer(b, "--slots", "2", "--sync", "normal")
	// $BERTH_BENCH_BASELINE names another build of berth to compare with
	// in the same rounds (make bench BASELINE=REV builds one).
	var sb *testenv.Server
	if bin := os.Getenv("BERTH_BENCH_BASELINE"); bin != "" {
		sb = testenv.StartServerBin(b, bin, "--slots", "2", "--log-level", "info")
	}
	dir := b.TempDir()
	file := writeLines(b, filepath.Join(dir, "in1000"), 1000)

	berthEach := func(s *testenv.Server, file string) time.Duration {
		b.Helper()
		return timeCmd(b, s.Env(), "", s.Bin, "run", "--each", file, "--max-parallel", "2", "--", "true", "{}")
	}
	// The first run on a fresh server is reported apart; the comparison is
	// of warm runs, the median of three alternating rounds each, so that a
	// burst of load on the machine does not decide it.
	first := berthEach(s, file)
	berthEach(sn, file)
	if sb != nil {
		berthEach(sb, file)
	}

	// Rounds alternate berth, xargs and parallel, so that load on the
	// machine hits them alike. Noise here comes in bursts of seconds, so
	// the ratios are given for the medians and for the best rounds (the
	// least disturbed).
	const rounds = 5
	var rb, rn, rx, rp, rbase []time.Duration
	var base0 berthCPU
	if sb != nil {
		base0 = sampleCPU(b, sb)
	}
	cpu0 := sampleCPU(b, s)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range rounds {
			b.StartTimer()
			rb = append(rb, berthEach(s, file))
			b.StopTimer()
			rn = append(rn, berthEach(sn, file))
			if sb != nil {
				rbase = append(rbase, berthEach(sb, file))
			}
			if haveXargs {
				rx = append(rx, timeCmd(b, nil, file, xargs, "-P2", "-I{}", "true", "{}"))
			}
			if haveParallel {
				rp = append(rp, timeCmd(b, nil, "", gnuParallel, "--will-cite", "-j2", "true", "{}", "::::", file))
			}
		}
	}

	cpu1 := sampleCPU(b, s)
	perTask := func(d time.Duration) float64 { return ms(d) / float64(len(rb)*1000) }
	srvCPU, wkCPU, jobCPU := perTask(cpu1.server-cpu0.server), perTask(cpu1.worker-cpu0.worker), perTask(cpu1.jobs-cpu0.jobs)
	b.ReportMetric(srvCPU, "server_cpu_ms/task")
	b.ReportMetric(wkCPU, "worker_cpu_ms/task")

	berth, normal := median(rb).Seconds(), median(rn).Seconds()
	berthBest := slices.Min(rb).Seconds()
	b.ReportMetric(berth, "berth_s")
	b.ReportMetric(normal, "berth_normal_s")
	b.ReportMetric(first.Seconds(), "berth_first_s")
	line := fmt.Sprintf("each-1000 (%d warm rounds, median / best): berth %.2fs / %.2fs (--sync normal %.2fs; first run on a fresh server %.2fs)",
		len(rb), berth, berthBest, normal, first.Seconds())
	if haveXargs {
		x, xBest := median(rx).Seconds(), slices.Min(rx).Seconds()
		b.ReportMetric(x, "xargs_s")
		b.ReportMetric(berth/x, "ratio_vs_xargs")
		b.ReportMetric(berthBest/xBest, "ratio_vs_xargs_best")
		line += fmt.Sprintf(", xargs -P2 %.2fs / %.2fs (berth %.2fx / %.2fx of it, target <= 1.5)", x, xBest, berth/x, berthBest/xBest)
	}
	if haveParallel {
		p, pBest := median(rp).Seconds(), slices.Min(rp).Seconds()
		b.ReportMetric(p, "parallel_s")
		b.ReportMetric(p/berth, "speedup_vs_parallel")
		line += fmt.Sprintf(", parallel -j2 %.2fs / %.2fs (berth %.2fx / %.2fx faster, target >= 2)", p, pBest, p/berth, pBest/berthBest)
	}
	b.Log(line)
	if sb != nil {
		base1 := sampleCPU(b, sb)
		bm, bBest := median(rbase).Seconds(), slices.Min(rbase).Seconds()
		b.ReportMetric(berth/bm, "ratio_vs_baseline")
		b.Logf("each-1000 vs baseline %s: berth %.2fs / %.2fs, baseline %.2fs / %.2fs (%.3fx / %.3fx); CPU per task: server %.3f vs %.3f ms, worker %.3f vs %.3f ms",
			os.Getenv("BERTH_BENCH_BASELINE"), berth, berthBest, bm, bBest, berth/bm, berthBest/bBest,
			srvCPU, perTask(base1.server-base0.server), wkCPU, perTask(base1.worker-base0.worker))
	}
	// Where berth's time goes: its own CPU per task beside the job's.
	b.Logf("each-1000: CPU per task: server %.2f ms, worker %.2f ms, the job itself %.2f ms", srvCPU, wkCPU, jobCPU)
	// A task that writes output costs berth a file; xargs creates none.
	// What that costs depends on the file system's state (on a churned ext4
	// it has been seen to grow from 20 µs to 1 ms of CPU), so say it.
	b.Logf("each-1000: creating a file in the data directory's file system costs %s of CPU here", createCost(b, string(s.Dir)))
}

// createCost returns the CPU time (user and system) it takes to create an
// empty file in dir, over 200 files.
func createCost(b *testing.B, dir string) time.Duration {
	b.Helper()
	d, err := os.MkdirTemp(dir, "create")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(d)
	cpu := func() time.Duration {
		var ru syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	const n = 200
	start := cpu()
	for i := range n {
		f, err := os.OpenFile(filepath.Join(d, strconv.Itoa(i)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	return ((cpu() - start) / n).Round(time.Microsecond)
}

// BenchmarkSubmitArray100k submits a held array job of 100,000 tasks in one
// call, then 100,000 separate held jobs from 8 concurrent clients, and
// reports the submit rates and the server's resident memory after each
// (target: >= 20,000 tasks/s; < 200 MB). ns/op is the array submit.
func BenchmarkSubmitArray100k(b *testing.B) {
	const (
		tasks    = 100_000
		plain    = 100_000
		reduced  = 20_000
		probe    = 2_000
		workers  = 8
		maxPlain = 60 * time.Second
	)
	for i := 0; i < b.N; i++ {
		// A fresh server each iteration: what is queued is part of the
		// measure.
		b.StopTimer()
		s := startServer(b)
		c := s.Client()
		pid, err := serverPID(s)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(b.Context(), cmdTimeout)
		rssIdle := rssMB(b, pid)

		spec := job.Spec{
			Name:     "bench-array",
			Template: job.Template{Command: "true"},
			Array:    &job.Array{Begin: 1, End: tasks, Step: 1},
			Hold:     true,
		}
		b.StartTimer()
		start := time.Now()
		j, err := c.Submit(ctx, spec)
		dArray := time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatalf("submitting the array: %v", err)
		}
		if j.TaskCount != tasks {
			b.Fatalf("array job %d has %d tasks, want %d", j.ID, j.TaskCount, tasks)
		}
		rssArray := rssMB(b, pid)
		cancel()
		s.Stop()

		// Plain jobs, on a server of their own so that its RSS is theirs
		// alone; --sync normal only to submit them faster.
		s = startServer(b, "--sync", "normal")
		if pid, err = serverPID(s); err != nil {
			b.Fatal(err)
		}
		ctx, cancel = context.WithTimeout(b.Context(), cmdTimeout)

		// A probe first, to see whether all 100,000 fit in
		// about a minute at this machine's rate.
		one := job.Spec{Template: job.Template{Command: "true"}, Hold: true}
		dProbe := submitMany(b, ctx, s, one, probe, workers)
		rate := float64(probe) / dProbe.Seconds()
		total := plain
		note := ""
		if time.Duration(float64(plain-probe)/rate*float64(time.Second)) > maxPlain {
			total = reduced
			note = fmt.Sprintf(" (reduced from %d: at %.0f jobs/s they would take %.0fs)",
				plain, rate, float64(plain)/rate)
		}
		dRest := submitMany(b, ctx, s, one, total-probe, workers)
		dPlain := dProbe + dRest
		rssJobs := rssMB(b, pid)
		cancel()
		s.Stop()

		tps := float64(tasks) / dArray.Seconds()
		jps := float64(total) / dPlain.Seconds()
		b.ReportMetric(tps, "tasks_per_s")
		b.ReportMetric(rssArray, "rss_mb_100k_queued")
		b.ReportMetric(jps, "jobs_per_s")
		b.ReportMetric(float64(total), "jobs_submitted")
		b.ReportMetric(rssJobs, "rss_mb_100k_jobs")
		b.Logf("submit-array-100k: %d tasks in %.2fs = %.0f tasks/s (target >= 20000); server RSS %.0f MB idle, %.0f MB with them queued (target < 200)",
			tasks, dArray.Seconds(), tps, rssIdle, rssArray)
		b.Logf("submit-jobs: %d held jobs from %d clients in %.2fs = %.0f jobs/s%s; server RSS %.0f MB with them queued (target < 200)",
			total, workers, dPlain.Seconds(), jps, note, rssJobs)
	}
}

// BenchmarkWaitLatency submits `true` 50 times, one after the other, and
// measures each from the submit to client.Wait returning on its end.
// ns/op is the 50 rounds.
func BenchmarkWaitLatency(b *testing.B) {
	const rounds = 50
	s := startServer(b)
	c := s.Client()
	spec := job.Spec{Template: job.Template{Command: "true"}}
	once := func(ctx context.Context) time.Duration {
		b.Helper()
		start := time.Now()
		j, err := c.Submit(ctx, spec)
		if err != nil {
			b.Fatalf("submit: %v", err)
		}
		r, err := c.Wait(ctx, []int64{j.ID}, false, 0)
		d := time.Since(start)
		if err != nil {
			b.Fatalf("wait %d: %v", j.ID, err)
		}
		if r.TimedOut || len(r.Jobs) != 1 || r.Jobs[0].State != job.Done {
			b.Fatalf("wait %d: %+v", j.ID, r)
		}
		return d
	}
	ctx, cancel := context.WithTimeout(b.Context(), cmdTimeout)
	defer cancel()
	once(ctx) // warm-up, not counted

	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range rounds {
			lat = append(lat, once(ctx))
		}
	}
	b.StopTimer()

	slices.Sort(lat)
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	b.ReportMetric(ms(p50), "p50_ms")
	b.ReportMetric(ms(p99), "p99_ms")
	b.Logf("wait-latency: %d × submit true + wait: p50 %.1fms, p99 %.1fms, min %.1fms, max %.1fms",
		len(lat), ms(p50), ms(p99), ms(lat[0]), ms(lat[len(lat)-1]))
}

// submitMany submits n copies of spec from workers goroutines with one
// client each, and returns the wall time.
func submitMany(b *testing.B, ctx context.Context, s *testenv.Server, spec job.Spec, n, workers int) time.Duration {
	b.Helper()
	var (
		next    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	for range workers {
		c := s.Client()
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if _, err := c.Submit(ctx, spec); err != nil {
					errOnce.Do(func() { first = err; cancel() })
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if first != nil {
		b.Fatalf("submitting %d jobs: %v", n, first)
	}
	return d
}

// timeCmd runs name with args (environment env, or the test's when nil;
// stdin from the file stdin unless empty; stdout discarded) and returns its wall
// time. It fails the benchmark unless the command exits 0.
func timeCmd(b *testing.B, env []string, stdin string, name string, args ...string) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	if stdin != "" {
		f, err := os.Open(stdin)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		cmd.Stdin = f
	}
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, tail(errb.String(), 2000))
	}
	return d
}

// writeLines writes the lines "1".."n" to path and returns path.
func writeLines(b *testing.B, path string, n int) string {
	b.Helper()
	var buf bytes.Buffer
	for i := 1; i <= n; i++ {
		buf.WriteString(strconv.Itoa(i))
		buf.WriteByte('\n')
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// isGNUParallel reports whether path is GNU parallel.
func isGNUParallel(path string) bool {
	out, err := exec.Command(path, "--version").Output()
	return err == nil && bytes.Contains(out, []byte("GNU parallel"))
}

// serverPID finds the process of s's `berth serve`: the one running s.Bin
// with the argument serve and BERTH_HOME set to s's data directory.
func serverPID(s *testenv.Server) (int, error) { return berthPID(s, "serve") }

// berthPID finds the process of s's `berth VERB` (serve, or worker for its
// local worker): the one running s.Bin with that verb and BERTH_HOME set to
// s's data directory.
func berthPID(s *testenv.Server, verb string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	home := []byte("BERTH_HOME=" + string(s.Dir))
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		argv := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00")
		if len(argv) < 2 || argv[0] != s.Bin || argv[1] != verb {
			continue
		}
		environ, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		if slices.ContainsFunc(bytes.Split(environ, []byte{0}), func(v []byte) bool { return bytes.Equal(v, home) }) {
			return pid, nil
		}
	}
	return 0, errors.New("no `berth " + verb + "` process with " + string(home) + " in /proc")
}

// cpuTimes returns the CPU time of process pid and that of its reaped
// children (its jobs, for a worker), from /proc/PID/stat.
func cpuTimes(pid int) (self, children time.Duration, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: utime, stime, cutime and cstime are fields 14-17 of the line.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 15 {
		return 0, 0, errors.New("short /proc stat")
	}
	tick := func(i int) time.Duration {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(n) * time.Second / 100 // USER_HZ
	}
	return tick(11) + tick(12), tick(13) + tick(14), nil
}

// berthCPU samples the CPU time of s's server, its local worker and the
// worker's jobs.
type berthCPU struct{ server, worker, jobs time.Duration }

func sampleCPU(b *testing.B, s *testenv.Server) berthCPU {
	b.Helper()
	var c berthCPU
	for _, p := range []struct {
		verb       string
		self, kids *time.Duration
	}{{"serve", &c.server, nil}, {"worker", &c.worker, &c.jobs}} {
		pid, err := berthPID(s, p.verb)
		if err != nil {
			b.Fatal(err)
		}
		self, kids, err := cpuTimes(pid)
		if err != nil {
			b.Fatal(err)
		}
		*p.self = self
		if p.kids != nil {
			*p.kids = kids
		}
	}
	return c
}

// rssMB returns the resident set (VmRSS) of process pid in MB.
func rssMB(b *testing.B, pid int) float64 {
	b.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v) // "123456 kB"
			kb, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				b.Fatalf("VmRSS of %d: %q", pid, line)
			}
			return kb / 1024
		}
	}
	b.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// percentile returns the p-th percentile (nearest rank) of sorted d.
func percentile(d []time.Duration, p int) time.Duration {
	i := (len(d)*p + 99) / 100 // ceil(len*p/100)
	return d[max(i-1, 0)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// median returns the middle of ds (0 if empty).
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// startServer starts `berth serve` as users do: at the default log level,
// not the debug level of the tests, whose per-task lines cost CPU.
func startServer(b *testing.B, args ...string) *testenv.Server {
	b.Helper()
	return testenv.StartServer(b, append(args, "--log-level", "info")...)
}
