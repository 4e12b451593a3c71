package docker

import (
	"context"
	"encoding/json"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// usage is the latest resource use the engine reported for a task.
type usage struct {
	cpu    time.Duration
	maxRSS int64
}

// followStats keeps the task's CPU time and peak memory from the engine's
// stats stream (one sample a second) until the container stops. The engine
// drops a container's cgroup, and with it the numbers, when the container
// exits, so the stream is the only source: the exit reports the last sample,
// up to a second old, and nothing for a task shorter than that. The peak is
// the cgroup's memory max_usage (cgroup v1; it counts page cache), or the
// highest usage seen where the engine reports no max_usage (cgroup v2).
//
// The stream opens only after the task has run for delay (it ends at once
// if ctx ends first): a task shorter than the engine's sampling interval
// would get no sample, and the stream is engine work on the start of every
// short container.
func (t *task) followStats(ctx context.Context, delay time.Duration) {
	if delay > 0 {
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return
		}
	}
	res, err := t.e.cli.ContainerStats(ctx, t.containerID, client.ContainerStatsOptions{Stream: true})
	if err != nil {
		if ctx.Err() == nil {
			t.log.Debug("stats", "err", err)
		}
		return
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var s container.StatsResponse
		if err := dec.Decode(&s); err != nil {
			return
		}
		if s.Read.IsZero() || s.Read.Year() <= 1 {
			continue // the container is not running: no numbers
		}
		t.mu.Lock()
		if cpu := time.Duration(s.CPUStats.CPUUsage.TotalUsage); cpu > t.stats.cpu {
			t.stats.cpu = cpu
		}
		peak := max(s.MemoryStats.MaxUsage, s.MemoryStats.Usage)
		t.stats.maxRSS = max(t.stats.maxRSS, int64(peak))
		t.mu.Unlock()
	}
}
