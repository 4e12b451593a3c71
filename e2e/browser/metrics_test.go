package browser

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// promtool returns the path of Prometheus's promtool, skipping (or failing
// in CI) when it is missing.
func promtool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if os.Getenv("BERTH_REQUIRE_DOCKER") == "1" {
		t.Fatal("promtool is not installed (BERTH_REQUIRE_DOCKER=1): run scripts/test-deps.sh")
	}
	t.Skip("promtool is not installed: run scripts/test-deps.sh")
	return ""
}

func scrape(t *testing.T, base, token string) []byte {
	t.Helper()
	b, err := scrapeErr(base, token)
	require.NoError(t, err)
	return b
}

func scrapeErr(base, token string) ([]byte, error) {
	req, err := http.NewRequest("GET", base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return io.ReadAll(resp.Body)
}

type families map[string]*dto.MetricFamily

func parse(t *testing.T, b []byte) families {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	require.NoError(t, err)
	return fs
}

// value sums the samples of a family whose labels include want (counters,
// gauges; histograms give their count).
func (fs families) value(name string, want ...string) float64 {
	f := fs[name]
	if f == nil {
		return -1
	}
	var sum float64
next:
	for _, m := range f.Metric {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, l := range m.Label {
				if l.GetName() == want[i] && l.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func promtoolCheck(t *testing.T, tool string, b []byte) {
	t.Helper()
	cmd := exec.Command(tool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(b)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "promtool check metrics:\n%s", out)
}

// TestMetrics runs 100 jobs (90 succeed, 10 fail) while scraping /metrics,
// and checks the counters and histograms against what ran.
func TestMetrics(t *testing.T) {
	tool := promtool(t)
	addr := freeAddr(t)
	s := testenv.StartServer(t, "--listen", addr, "--slots", "4")
	tok, err := os.ReadFile(s.Dir.Token())
	require.NoError(t, err)
	token, base := strings.TrimSpace(string(tok)), "http://"+addr
	c := s.Client()
	ctx := context.Background()

	// Scrape all along: counters never go back.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var scrapes int
	var mid []byte
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := 0.0
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			b, err := scrapeErr(base, token)
			if err != nil {
				t.Error(err)
				return
			}
			parser := expfmt.NewTextParser(model.LegacyValidation)
			fs, err := parser.TextToMetricFamilies(bytes.NewReader(b))
			if err != nil {
				t.Error(err)
				return
			}
			// Counters appear at their first increment.
			v := max(families(fs).value("berth_tasks_started_total"), 0)
			if v < last {
				t.Errorf("berth_tasks_started_total went back from %v to %v", last, v)
			}
			if v > 0 && v < 100 {
				mid = b
			}
			last = v
			scrapes++
		}
	}()

	var ids []int64
	for i := range 100 {
		cmd := "true"
		if i%10 == 9 {
			cmd = "false"
		}
		j, err := c.Submit(ctx, job.Spec{Template: job.Template{Command: cmd}})
		require.NoError(t, err)
		ids = append(ids, j.ID)
	}
	_, err = c.Wait(ctx, ids, false, time.Minute)
	require.NoError(t, err)
	close(stop)
	wg.Wait()
	t.Logf("%d scrapes during the run", scrapes)

	final := scrape(t, base, token)
	promtoolCheck(t, tool, final)
	if mid != nil {
		promtoolCheck(t, tool, mid)
	}
	fs := parse(t, final)
	pool := []string{"pool", job.PoolDefault}
	require.Equal(t, 100.0, fs.value("berth_tasks_started_total", pool...))
	require.Equal(t, 90.0, fs.value("berth_tasks_ended_total", "result", "done", "reason", "exit_code"))
	require.Equal(t, 10.0, fs.value("berth_tasks_ended_total", "result", "failed", "reason", "exit_code"))
	require.Equal(t, 100.0, fs.value("berth_task_dispatch_latency_seconds", pool...))
	require.Equal(t, 100.0, fs.value("berth_task_end_record_latency_seconds", pool...))
	require.Greater(t, fs.value("berth_store_commit_duration_seconds"), 0.0)
	require.GreaterOrEqual(t, fs.value("berth_store_committed_task_changes_total"), 200.0) // a start and an end each
	require.Equal(t, 0.0, fs.value("berth_queue_depth", pool...))
	require.Equal(t, 0.0, fs.value("berth_jobs", "state", "Running"))
	require.Equal(t, 0.0, fs.value("berth_jobs", "state", "Queued"))
	require.Equal(t, 4.0, fs.value("berth_pool_slots", pool...))
	require.Equal(t, 1.0, fs.value("berth_workers", "alive", "true"))
	require.Equal(t, 4.0, fs.value("berth_worker_slots", pool...))
	require.GreaterOrEqual(t, fs.value("berth_nats_stream_messages"), 0.0)
	require.GreaterOrEqual(t, fs.value("berth_nats_consumer_pending_messages"), 0.0)
	require.Greater(t, fs.value("go_goroutines"), 0.0)
	require.Greater(t, fs.value("process_resident_memory_bytes"), 0.0)

	// No job ID in any label.
	for name, f := range fs {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				require.NotContains(t, []string{"job", "job_id", "task", "ref"}, l.GetName(), name)
			}
		}
	}
}
