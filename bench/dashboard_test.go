package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-run/berth/internal/testenv"
)

// BenchmarkDashboards measures what watching costs the server: its CPU
// per task over `berth run --each` of 1,000 tasks while 20 dashboards
// follow it and /metrics is scraped every second, against a server
// nobody watches (target <= 1.1x).
//
// A dashboard here is what the jobs page's script does, made from Go
// rather than 20 browsers (whose own CPU would disturb the machine): the
// page once, then the dashboard's digests (/ui/live), each window's
// changes with the rows of new and ended jobs and the counts.
func BenchmarkDashboards(b *testing.B) {
	const dashboards = 20
	quietAddr, watchedAddr := freeAddr(b), freeAddr(b)
	quiet := startServer(b, "--slots", "2", "--listen", quietAddr)
	if p := os.Getenv("BERTH_BENCH_PROFILE"); p != "" {
		b.Setenv("BERTH_CPUPROFILE", p)
	}
	watched := startServer(b, "--slots", "2", "--listen", watchedAddr)
	tok, err := os.ReadFile(watched.Dir.Token())
	if err != nil {
		b.Fatal(err)
	}
	token := strings.TrimSpace(string(tok))
	base := "http://" + watchedAddr

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var requests sync.Map
	count := func(what string) {
		n, _ := requests.LoadOrStore(what, new(int64))
		*(n.(*int64))++ // only approximate: for the log line
	}
	get := func(path string) error {
		req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return nil
	}
	for range dashboards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dashboard(ctx, base, token, get, count)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if get("/metrics") == nil {
					count("metrics")
				}
			}
		}
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()

	dir := b.TempDir()
	file := writeLines(b, filepath.Join(dir, "in1000"), 1000)
	each := func(s *testenv.Server) (time.Duration, time.Duration) {
		b.Helper()
		c0 := sampleCPU(b, s)
		wall := timeCmd(b, s.Env(), "", s.Bin, "run", "--each", file, "--max-parallel", "2", "--", "true", "{}")
		return wall, sampleCPU(b, s).server - c0.server
	}
	// Warm both, then alternate rounds so that load on the machine hits
	// them alike; compare the medians.
	each(quiet)
	each(watched)
	const rounds = 5
	var qCPU, wCPU, qWall, wWall []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range rounds {
			w, c := each(quiet)
			qWall, qCPU = append(qWall, w), append(qCPU, c)
			w, c = each(watched)
			wWall, wCPU = append(wWall, w), append(wCPU, c)
		}
	}
	b.StopTimer()
	perTask := func(d time.Duration) float64 { return ms(d) / 1000 }
	q, w := perTask(median(qCPU)), perTask(median(wCPU))
	b.ReportMetric(q, "server_cpu_ms/task_quiet")
	b.ReportMetric(w, "server_cpu_ms/task_watched")
	b.ReportMetric(w/q, "ratio_watched")
	var reqs []string
	requests.Range(func(k, v any) bool {
		reqs = append(reqs, fmt.Sprintf("%s %d", k, *(v.(*int64))))
		return true
	})
	slices.Sort(reqs)
	b.Logf("dashboards: server CPU per task (median of %d rounds of each-1000): quiet %.3f ms, with %d dashboards and /metrics every second %.3f ms (%.3fx, target <= 1.1); wall %.2fs vs %.2fs; requests: %s",
		len(qCPU), q, dashboards, w, w/q, median(qWall).Seconds(), median(wWall).Seconds(), strings.Join(reqs, ", "))
}

// dashboard follows the server as the jobs page does until ctx ends: the
// page once, then the digests of /ui/live (the states of the jobs that
// changed, the rows of new and ended ones, the counts), which it decodes.
func dashboard(ctx context.Context, base, token string, get func(string) error, count func(string)) {
	if get("/ui/") == nil {
		count("page")
	}
	req, err := http.NewRequestWithContext(ctx, "GET", base+"/ui/live", nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var d struct {
			Jobs []struct {
				Job   int64  `json:"job"`
				State string `json:"state"`
			} `json:"jobs"`
			Rows   map[int64]string `json:"rows"`
			Counts map[string]int   `json:"counts"`
		}
		if json.Unmarshal([]byte(data), &d) != nil {
			continue
		}
		count("digests")
	}
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
