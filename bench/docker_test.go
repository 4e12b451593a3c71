package bench

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	dockerclient "github.com/moby/moby/client"

	"github.com/berth-run/berth/internal/daemon"
	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// BenchmarkDocker50 runs 50 `true` containers two at a time through
// `berth run --each --image` and through `xargs -P2 docker run --rm`, in the
// same run, and reports both wall times and their ratio (target: berth at
// most 0.8x the docker CLI). It also times the engine floor: the fewest API
// calls that run a container and collect its exit and output (create,
// attach, start, the die event, remove in the background), two at a time,
// from this process: what no client can beat. ns/op is berth's time.
func BenchmarkDocker50(b *testing.B) {
	const n = 50
	image := testenv.DockerImage(b)
	dc := testenv.RequireDocker(b)
	xargs, dockerCLI := lookTool(b, "xargs"), lookTool(b, "docker")

	s := startServer(b, "--slots", "2")
	dir := b.TempDir()
	file := writeLines(b, filepath.Join(dir, "in50"), n)
	warm := writeLines(b, filepath.Join(dir, "in4"), 4)
	berthEach := func(file string) time.Duration {
		b.Helper()
		return timeCmd(b, s.Env(), "", s.Bin, "run", "--each", file, "--max-parallel", "2", "--image", image, "--", "true")
	}
	dockerEach := func(file string) time.Duration {
		b.Helper()
		return timeCmd(b, nil, file, xargs, "-P2", "-I{}", dockerCLI, "run", "--rm", image, "true")
	}
	// Warm up: the worker's first connection to the engine, page cache.
	berthEach(warm)
	dockerEach(warm)

	engineFloor(b, dc, image, 4, 2)

	var tBerth, tDocker, tFloor time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StartTimer()
		tBerth += berthEach(file)
		b.StopTimer()
		tDocker += dockerEach(file)
		tFloor += engineFloor(b, dc, image, n, 2)
	}
	nn := time.Duration(b.N)
	berth, docker, floor := (tBerth / nn).Seconds(), (tDocker / nn).Seconds(), (tFloor / nn).Seconds()
	b.ReportMetric(berth, "berth_s")
	b.ReportMetric(docker, "docker_cli_s")
	b.ReportMetric(floor, "engine_floor_s")
	b.ReportMetric(berth/docker, "ratio_vs_docker")
	b.ReportMetric(floor/docker, "floor_vs_docker")
	b.Logf("docker-50: berth %.2fs, xargs -P2 docker run --rm %.2fs: berth %.2fx of it (target <= 0.8); engine floor %.2fs (%.2fx of the CLI; berth %.2fx of the floor)",
		berth, docker, berth/docker, floor, floor/docker, berth/floor)
}

// engineFloor runs n `true` containers, par at a time, with the fewest
// engine API calls that still collect each one's exit and output, and
// returns the wall time.
func engineFloor(b *testing.B, dc *dockerclient.Client, image string, n, par int) time.Duration {
	b.Helper()
	ctx, cancel := context.WithTimeout(b.Context(), cmdTimeout)
	defer cancel()
	var (
		mu   sync.Mutex
		dies = map[string]chan struct{}{}
		rm   sync.WaitGroup
	)
	const label = "berth-bench-floor"
	onDie(ctx, dc, label, func(m events.Message) {
		mu.Lock()
		if ch := dies[m.Actor.ID]; ch != nil {
			close(ch)
			delete(dies, m.Actor.ID)
		}
		mu.Unlock()
	})
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	errs := make(chan error, par)
	start := time.Now()
	var wg sync.WaitGroup
	for range par {
		wg.Go(func() {
			for range next {
				if err := floorOne(ctx, dc, image, label, &mu, dies, &rm); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	rm.Wait()
	select {
	case err := <-errs:
		b.Fatalf("engine floor: %v", err)
	default:
	}
	return d
}

// floorOne runs one container for engineFloor.
func floorOne(ctx context.Context, dc *dockerclient.Client, image, label string, mu *sync.Mutex, dies map[string]chan struct{}, rm *sync.WaitGroup) error {
	cr, err := dc.ContainerCreate(ctx, dockerclient.ContainerCreateOptions{
		Config: &container.Config{Image: image, Cmd: []string{"true"}, AttachStdout: true, AttachStderr: true, Labels: map[string]string{label: ""}},
	})
	if err != nil {
		return err
	}
	died := make(chan struct{})
	mu.Lock()
	dies[cr.ID] = died
	mu.Unlock()
	att, err := dc.ContainerAttach(ctx, cr.ID, dockerclient.ContainerAttachOptions{Stream: true, Stdout: true, Stderr: true})
	if err != nil {
		return err
	}
	defer att.Close()
	if _, err := dc.ContainerStart(ctx, cr.ID, dockerclient.ContainerStartOptions{}); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, att.Reader); err != nil {
		return err
	}
	select {
	case <-died:
	case <-ctx.Done():
		return ctx.Err()
	}
	rm.Go(func() {
		_, _ = dc.ContainerRemove(context.WithoutCancel(ctx), cr.ID, dockerclient.ContainerRemoveOptions{Force: true})
	})
	return nil
}

// BenchmarkDockerExitToWait submits `sh -c 'sleep 0.2'` in a container 50
// times, one after the other, and measures from the container's exit (the
// engine's die event, found by the container's berth.task label) to
// client.Wait returning. Target: p99 < 50 ms. ns/op is the 50 rounds.
func BenchmarkDockerExitToWait(b *testing.B) {
	const rounds = 50
	image := testenv.DockerImage(b)
	dc := testenv.RequireDocker(b)
	s := startServer(b, "--slots", "2")
	c := s.Client()
	ctx, cancel := context.WithTimeout(b.Context(), cmdTimeout)
	defer cancel()

	// The die events of the server's containers, by their berth.task label
	// ("JOB.INDEX.ATTEMPT").
	var (
		mu   sync.Mutex
		dies = map[string]time.Time{}
		got  = make(chan struct{}, 1)
	)
	onDie(ctx, dc, "berth.executor="+daemon.LocalInstance(s.Dir), func(m events.Message) {
		mu.Lock()
		dies[m.Actor.Attributes["berth.task"]] = time.Unix(0, m.TimeNano)
		mu.Unlock()
		select {
		case got <- struct{}{}:
		default:
		}
	})
	dieOf := func(id int64) (time.Time, bool) {
		prefix := strconv.FormatInt(id, 10) + "."
		deadline := time.After(10 * time.Second)
		for {
			mu.Lock()
			for k, v := range dies {
				if strings.HasPrefix(k, prefix) {
					mu.Unlock()
					return v, true
				}
			}
			mu.Unlock()
			select {
			case <-got:
			case <-deadline:
				return time.Time{}, false
			}
		}
	}

	spec := job.Spec{Template: job.Template{Image: image, Command: "sh", Args: []string{"-c", "sleep 0.2"}}}
	fromFinished := 0
	once := func() time.Duration {
		b.Helper()
		j, err := c.Submit(ctx, spec)
		if err != nil {
			b.Fatalf("submit: %v", err)
		}
		r, err := c.Wait(ctx, []int64{j.ID}, false, 0)
		returned := time.Now()
		if err != nil {
			b.Fatalf("wait %d: %v", j.ID, err)
		}
		if r.TimedOut || len(r.Jobs) != 1 || r.Jobs[0].State != job.Done {
			b.Fatalf("wait %d: %+v", j.ID, r)
		}
		died, ok := dieOf(j.ID)
		if !ok {
			// No event seen: fall back on the task's FinishedAt.
			if r.Jobs[0].FinishedAt == nil {
				b.Fatalf("job %d: no die event and no FinishedAt", j.ID)
			}
			died = *r.Jobs[0].FinishedAt
			fromFinished++
		}
		return returned.Sub(died)
	}
	once() // warm-up, not counted

	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range rounds {
			lat = append(lat, once())
		}
	}
	b.StopTimer()

	slices.Sort(lat)
	p50, p99 := percentile(lat, 50), percentile(lat, 99)
	b.ReportMetric(ms(p50), "p50_ms")
	b.ReportMetric(ms(p99), "p99_ms")
	note := ""
	if fromFinished > 0 {
		note = fmt.Sprintf(" (%d measured from FinishedAt: no die event)", fromFinished)
	}
	b.Logf("docker-exit-to-wait: %d × container exit → wait returns: p50 %.1fms, p99 %.1fms (target < 50), min %.1fms, max %.1fms%s",
		len(lat), ms(p50), ms(p99), ms(lat[0]), ms(lat[len(lat)-1]), note)
}

// onDie calls fn with the die event of every container with the label
// (KEY or KEY=VALUE), from a goroutine, until ctx is done.
func onDie(ctx context.Context, dc *dockerclient.Client, label string, fn func(events.Message)) {
	f := make(dockerclient.Filters).
		Add("type", string(events.ContainerEventType)).
		Add("event", string(events.ActionDie)).
		Add("label", label)
	sub := dc.Events(ctx, dockerclient.EventsListOptions{Filters: f})
	go func() {
		for {
			select {
			case m := <-sub.Messages:
				fn(m)
			case <-sub.Err:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
}

// BenchmarkOpenJDContainer100 runs a step of 100 tasks of true in one
// container session, with `berth openjd run --image` and through the server
// with `berth submit --image` (max-parallel 1: one session, one container),
// against `xargs -P2 docker run --rm IMG true` 100 times, in the same
// rounds. Target: berth <= 0.3x: the session pays the container start once,
// and each task is an exec in it.
func BenchmarkOpenJDContainer100(b *testing.B) {
	const n = 100
	image := testenv.DockerImage(b)
	bin := testenv.Berth(b)
	xargs, dockerCLI := lookTool(b, "xargs"), lookTool(b, "docker")
	s := startServer(b, "--slots", "2")
	dir := b.TempDir()
	tmpl := trueSteps(b, dir, n)
	file := writeLines(b, filepath.Join(dir, "in"), n)
	warm := writeLines(b, filepath.Join(dir, "in4"), 4)
	berthRun := func() time.Duration {
		return timeCmd(b, nil, "", bin, "openjd", "run", tmpl, "--image", image)
	}
	berthSubmit := func() time.Duration {
		return timeCmd(b, s.Env(), "", s.Bin, "submit", tmpl, "--wait", "--max-parallel", "1", "--image", image)
	}
	dockerEach := func(file string) time.Duration {
		return timeCmd(b, nil, file, xargs, "-P2", "-I{}", dockerCLI, "run", "--rm", image, "true")
	}
	// Warm up: page cache, the engine's image layers.
	berthRun()
	berthSubmit()
	dockerEach(warm)

	var tRun, tSubmit, tDocker time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StartTimer()
		tRun += berthRun()
		b.StopTimer()
		tSubmit += berthSubmit()
		tDocker += dockerEach(file)
	}
	nn := time.Duration(b.N)
	run, sub, docker := (tRun / nn).Seconds(), (tSubmit / nn).Seconds(), (tDocker / nn).Seconds()
	b.ReportMetric(run, "berth_run_s")
	b.ReportMetric(sub, "berth_submit_s")
	b.ReportMetric(docker, "docker_cli_s")
	b.ReportMetric(run/docker, "ratio_vs_docker")
	b.ReportMetric(sub/docker, "submit_ratio_vs_docker")
	b.Logf("openjd-container-100: xargs -P2 docker run --rm x100 %.2fs; berth openjd run --image (one container) %.2fs, %.2fx of it; berth submit --image (one session container) %.2fs, %.2fx of it (target <= 0.3)",
		docker, run, run/docker, sub, sub/docker)
}

// lookTool returns the path of a program the benchmark compares with, and
// skips the benchmark where it is not installed.
func lookTool(b *testing.B, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		b.Skipf("%s not found", name)
	}
	return p
}
