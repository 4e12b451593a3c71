package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/scheduler"
)

func TestTaskChanged(t *testing.T) {
	t.Parallel()
	m := New(Config{})
	now := time.Now()
	started := now.Add(-time.Second)
	task := &job.Task{State: job.Running, Info: job.Info{Attempt: 1, SubmittedAt: now.Add(-3 * time.Second), StartedAt: &started}}
	m.TaskChanged("p", task, job.Queued, time.Time{}, now)
	// A resume is no start; neither is a second report of Running.
	m.TaskChanged("p", task, job.Suspended, time.Time{}, now)
	// A retry's start counts, but its dispatch latency is not the first's.
	task.Attempt = 2
	m.TaskChanged("p", task, job.Requeued, time.Time{}, now)
	require.Equal(t, 2.0, testutil.ToFloat64(m.started.WithLabelValues("p")))
	require.Equal(t, 1, testutil.CollectAndCount(m.dispatch))

	task.State, task.SubState = job.Failed, job.SubState{Kind: job.ReasonCanceled}
	m.TaskChanged("p", task, job.Running, now.Add(-time.Millisecond), now)
	task2 := &job.Task{State: job.Failed, SubState: job.SubState{Kind: job.ReasonDependency, Value: "7"}}
	m.TaskChanged("p", task2, job.Queued, time.Time{}, now) // never ran: no exit time
	require.Equal(t, 1.0, testutil.ToFloat64(m.ended.WithLabelValues("p", "failed", "canceled")))
	require.Equal(t, 1.0, testutil.ToFloat64(m.ended.WithLabelValues("p", "failed", "dependency")))

	out, err := testutil.GatherAndCount(m.Registry(), "berth_task_end_record_latency_seconds", "berth_task_dispatch_latency_seconds")
	require.NoError(t, err)
	require.Equal(t, 2, out)
	require.NoError(t, testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP berth_task_end_record_latency_seconds Time from a task's exit on its worker to its end being committed to the store.
# TYPE berth_task_end_record_latency_seconds histogram
berth_task_end_record_latency_seconds_bucket{pool="p",le="0.001"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="0.0025"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="0.005"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="0.01"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="0.025"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="0.05"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="0.1"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="0.25"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="0.5"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="1"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="2.5"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="5"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="10"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="30"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="60"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="300"} 1
berth_task_end_record_latency_seconds_bucket{pool="p",le="+Inf"} 1
berth_task_end_record_latency_seconds_sum{pool="p"} 0.001
berth_task_end_record_latency_seconds_count{pool="p"} 1
`), "berth_task_end_record_latency_seconds"))
}

func TestScrapeAndLint(t *testing.T) {
	t.Parallel()
	m := New(Config{
		Pools: func() []scheduler.PoolStats {
			return []scheduler.PoolStats{{Pool: "default", Slots: 4, Used: 1, Queued: 2, OldestQueued: time.Now().Add(-time.Minute),
				Tasks: map[job.State]int{job.Running: 1, job.Queued: 2}, Jobs: map[job.State]int{job.Running: 1, job.Queued: 1}}}
		},
		Workers: func() []dispatch.WorkerStatus {
			return []dispatch.WorkerStatus{
				{Heartbeat: dispatch.Heartbeat{Worker: "a", Pool: "default", Slots: 4, Running: []dispatch.TaskKey{{Job: 1}}}, Alive: true},
				{Heartbeat: dispatch.Heartbeat{Worker: "b", Pool: "default", Slots: 2}, Alive: false},
			}
		},
	})
	m.Committed(3, time.Millisecond)
	problems, err := testutil.GatherAndLint(m.Registry())
	require.NoError(t, err)
	require.Empty(t, problems)
	require.NoError(t, testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP berth_queue_depth Tasks ready to run and waiting for a slot.
# TYPE berth_queue_depth gauge
berth_queue_depth{pool="default"} 2
# HELP berth_workers Workers heard from recently, by whether they are alive.
# TYPE berth_workers gauge
berth_workers{alive="false",pool="default"} 1
berth_workers{alive="true",pool="default"} 1
# HELP berth_worker_slots Slots of the alive workers.
# TYPE berth_worker_slots gauge
berth_worker_slots{pool="default"} 4
# HELP berth_store_committed_task_changes_total Task changes written by the scheduler's store commits.
# TYPE berth_store_committed_task_changes_total counter
berth_store_committed_task_changes_total 3
`), "berth_queue_depth", "berth_workers", "berth_worker_slots", "berth_store_committed_task_changes_total"))
}
