// Package metrics is berth's Prometheus metrics (/metrics): what the
// scheduler commits, counted as it happens (it is the scheduler's
// Observer), and what it holds, read at each scrape.
//
// Names follow Prometheus conventions: the berth_ prefix, base units
// (seconds, bytes), _total for counters. Labels are bounded: pool, state,
// result, reason (a sub-state kind), stream and consumer; never a job ID.
package metrics

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/scheduler"
)

// Config says where the figures read at a scrape come from. Every field is
// optional.
type Config struct {
	// Pools returns the scheduler's pools (scheduler.Scheduler.Stats).
	Pools func() []scheduler.PoolStats
	// Workers returns the workers heard from (scheduler.Scheduler.Workers).
	Workers func() []dispatch.WorkerStatus
	// JetStream is asked for its streams and consumers.
	JetStream jetstream.JetStream
}

// latencyBuckets spans a millisecond to five minutes: dispatch is
// milliseconds on an idle server and minutes behind a long queue.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

// commitBuckets span SQLite commits: tens of microseconds without fsync,
// milliseconds with it, more on a loaded disk.
var commitBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// Metrics counts and serves berth's metrics. Create it with New.
type Metrics struct {
	reg      *prometheus.Registry
	started  *prometheus.CounterVec
	ended    *prometheus.CounterVec
	dispatch *prometheus.HistogramVec
	recorded *prometheus.HistogramVec
	commit   prometheus.Histogram
	commitN  prometheus.Counter
}

// New returns Metrics registered with the Go runtime and process collectors.
func New(cfg Config) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		started: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_tasks_started_total",
			Help: "Task attempts started (Running for the first time in their attempt)."}, []string{"pool"}),
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_tasks_ended_total",
			Help: "Tasks ended, by result (done, failed) and reason (the sub-state kind: exit_code, signal, canceled, ...)."},
			[]string{"pool", "result", "reason"}),
		dispatch: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "berth_task_dispatch_latency_seconds",
			Help: "Time from a task's submission to the start of its first attempt.", Buckets: latencyBuckets}, []string{"pool"}),
		recorded: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "berth_task_end_record_latency_seconds",
			Help: "Time from a task's exit on its worker to its end being committed to the store.", Buckets: latencyBuckets}, []string{"pool"}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "berth_store_commit_duration_seconds",
			Help: "Time the scheduler's store commits of task changes take.", Buckets: commitBuckets}),
		commitN: prometheus.NewCounter(prometheus.CounterOpts{Name: "berth_store_committed_task_changes_total",
			Help: "Task changes written by the scheduler's store commits."}),
	}
	m.reg.MustRegister(m.started, m.ended, m.dispatch, m.recorded, m.commit, m.commitN,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&scrape{cfg: cfg})
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Registry is the registry the metrics are in, for tests and embedders.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Committed implements scheduler.Observer.
func (m *Metrics) Committed(n int, d time.Duration) {
	m.commit.Observe(d.Seconds())
	m.commitN.Add(float64(n))
}

// TaskChanged implements scheduler.Observer.
func (m *Metrics) TaskChanged(pool string, t *job.Task, prev job.State, exited, now time.Time) {
	switch {
	case t.State == job.Running && prev != job.Suspended && prev != job.Running:
		m.started.WithLabelValues(pool).Inc()
		if t.Attempt <= 1 && !t.SubmittedAt.IsZero() {
			at := now
			if t.StartedAt != nil {
				at = *t.StartedAt
			}
			m.dispatch.WithLabelValues(pool).Observe(max(at.Sub(t.SubmittedAt).Seconds(), 0))
		}
	case t.State.Terminal() && !prev.Terminal():
		m.ended.WithLabelValues(pool, strings.ToLower(string(t.State)), reason(t.SubState.Kind)).Inc()
		// Tasks that never ran (canceled in the queue, failed dependency,
		// lost) have no exit to measure from.
		if !exited.IsZero() {
			m.recorded.WithLabelValues(pool).Observe(max(now.Sub(exited).Seconds(), 0))
		}
	}
}

func reason(k job.Reason) string {
	if k == job.ReasonNone {
		return "none"
	}
	return strings.ToLower(string(k))
}

// scrape collects what is read at each scrape.
type scrape struct{ cfg Config }

var (
	descTasks = prometheus.NewDesc("berth_tasks", "Tasks of unended jobs, by state (ended jobs are in berth_tasks_ended_total).",
		[]string{"pool", "state"}, nil)
	descJobs = prometheus.NewDesc("berth_jobs", "Unended jobs, by summarized state.",
		[]string{"pool", "state"}, nil)
	descQueue = prometheus.NewDesc("berth_queue_depth", "Tasks ready to run and waiting for a slot.",
		[]string{"pool"}, nil)
	descOldest = prometheus.NewDesc("berth_queue_oldest_age_seconds", "Age of the oldest task waiting for a slot (0 when none waits).",
		[]string{"pool"}, nil)
	descSlots = prometheus.NewDesc("berth_pool_slots", "The pool's limit of tasks running at once.",
		[]string{"pool"}, nil)
	descSlotsUsed = prometheus.NewDesc("berth_pool_slots_used", "Slots held by tasks dispatched, running or suspended.",
		[]string{"pool"}, nil)
	descWorkers = prometheus.NewDesc("berth_workers", "Workers heard from recently, by whether they are alive.",
		[]string{"pool", "alive"}, nil)
	descWorkerSlots = prometheus.NewDesc("berth_worker_slots", "Slots of the alive workers.",
		[]string{"pool"}, nil)
	descWorkerRunning = prometheus.NewDesc("berth_worker_tasks", "Task attempts the alive workers hold.",
		[]string{"pool"}, nil)
	descStreamMsgs = prometheus.NewDesc("berth_nats_stream_messages", "Messages in a JetStream stream.",
		[]string{"stream"}, nil)
	descStreamBytes = prometheus.NewDesc("berth_nats_stream_bytes", "Bytes in a JetStream stream.",
		[]string{"stream"}, nil)
	descConsumerPending = prometheus.NewDesc("berth_nats_consumer_pending_messages", "Messages a JetStream consumer has yet to deliver.",
		[]string{"stream", "consumer"}, nil)
	descConsumerAckPending = prometheus.NewDesc("berth_nats_consumer_ack_pending_messages", "Messages delivered by a JetStream consumer and not yet acknowledged.",
		[]string{"stream", "consumer"}, nil)
	descConsumerRedelivered = prometheus.NewDesc("berth_nats_consumer_redelivered_messages", "Messages a JetStream consumer is redelivering.",
		[]string{"stream", "consumer"}, nil)
)

func (c *scrape) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTasks, descJobs, descQueue, descOldest, descSlots, descSlotsUsed,
		descWorkers, descWorkerSlots, descWorkerRunning, descStreamMsgs, descStreamBytes,
		descConsumerPending, descConsumerAckPending, descConsumerRedelivered} {
		ch <- d
	}
}

func (c *scrape) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if c.cfg.Pools != nil {
		now := time.Now()
		for _, p := range c.cfg.Pools() {
			// Every state is reported, zero included, so that a series does
			// not vanish when its count drops to zero.
			for _, st := range job.States {
				if st == job.Undetermined {
					continue
				}
				gauge(descTasks, float64(p.Tasks[st]), p.Pool, string(st))
				if !st.Terminal() {
					gauge(descJobs, float64(p.Jobs[st]), p.Pool, string(st))
				}
			}
			gauge(descQueue, float64(p.Queued), p.Pool)
			age := 0.0
			if !p.OldestQueued.IsZero() {
				age = max(now.Sub(p.OldestQueued).Seconds(), 0)
			}
			gauge(descOldest, age, p.Pool)
			gauge(descSlots, float64(p.Slots), p.Pool)
			gauge(descSlotsUsed, float64(p.Used), p.Pool)
		}
	}
	if c.cfg.Workers != nil {
		type poolWorkers struct{ alive, dead, slots, running int }
		pools := map[string]*poolWorkers{}
		for _, w := range c.cfg.Workers() {
			pw := pools[w.Pool]
			if pw == nil {
				pw = &poolWorkers{}
				pools[w.Pool] = pw
			}
			if !w.Alive {
				pw.dead++
				continue
			}
			pw.alive++
			pw.slots += w.Slots
			pw.running += len(w.Running)
		}
		for pool, pw := range pools {
			gauge(descWorkers, float64(pw.alive), pool, "true")
			gauge(descWorkers, float64(pw.dead), pool, "false")
			gauge(descWorkerSlots, float64(pw.slots), pool)
			gauge(descWorkerRunning, float64(pw.running), pool)
		}
	}
	if c.cfg.JetStream != nil {
		c.collectJetStream(gauge)
	}
}

// jetStreamTimeout bounds the NATS requests of one scrape.
const jetStreamTimeout = 2 * time.Second

func (c *scrape) collectJetStream(gauge func(*prometheus.Desc, float64, ...string)) {
	ctx, cancel := context.WithTimeout(context.Background(), jetStreamTimeout)
	defer cancel()
	streams := c.cfg.JetStream.ListStreams(ctx)
	for si := range streams.Info() {
		name := si.Config.Name
		gauge(descStreamMsgs, float64(si.State.Msgs), name)
		gauge(descStreamBytes, float64(si.State.Bytes), name)
		st, err := c.cfg.JetStream.Stream(ctx, name)
		if err != nil {
			continue
		}
		cons := st.ListConsumers(ctx)
		for ci := range cons.Info() {
			gauge(descConsumerPending, float64(ci.NumPending), name, ci.Name)
			gauge(descConsumerAckPending, float64(ci.NumAckPending), name, ci.Name)
			gauge(descConsumerRedelivered, float64(ci.NumRedelivered), name, ci.Name)
		}
	}
}
