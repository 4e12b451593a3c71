package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-run/berth/executor/docker"
	"github.com/moby/moby/client"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// pruneEvery is how many finished records the worker writes between two
// prunes of the old ones.
const pruneEvery = 256

// Worker consumes a sandbox's pending topic and runs each job's script in
// a container. Make one with New, then Run it.
type Worker struct {
	cfg Config
	log *slog.Logger

	// Set up by Run.
	state    *state
	instance string // owner of the containers and job directories
	jobsDir  string
	exec     *docker.Executor
	// dockerClient is the engine's client for Config.DockerHost.
	dockerClient *client.Client
	cl           *kgo.Client
	offsets      *offsets
	seq          atomic.Int64
	stored       atomic.Int64
	pruning      atomic.Bool

	// slots holds a token per message being handled: a container's worth
	// more than containers, so that a job may wait for a container and be
	// rejected if none frees in time, as in the original.
	slots chan struct{}
	// containers holds a token per script running.
	containers chan struct{}
	jobs       sync.WaitGroup
	// fetching ends when the worker stops fetching; jobs still waiting for
	// a container then give up, unanswered, for redelivery.
	fetching    context.Context
	stopFetches context.CancelFunc

	// hard ends the runs: at the end of the drain, or on Abort.
	hard      context.Context
	hardStop  context.CancelFunc
	abort     chan struct{}
	abortOnce sync.Once

	mu sync.Mutex
	// inflight maps the jobIds being answered to their runs.
	inflight map[string]*run

	commitMu sync.Mutex
	// committed is the offset last committed per partition; commits
	// never go back.
	committed map[topicPartition]int64
	// toCommit holds, per partition, the record through which the worker
	// is done but has not committed yet (a commit failed).
	toCommit map[topicPartition]*kgo.Record
}

// run is one job being answered; records that carry its jobId while it
// runs join it and are done when it is.
type run struct {
	entries []*entry
}

// New checks cfg and returns a Worker; it connects to nothing yet.
func New(cfg Config) (*Worker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	jobs, err := filepath.Abs(cfg.JobFilesDir)
	if err != nil {
		return nil, fmt.Errorf("job files directory: %w", err)
	}
	w := &Worker{
		cfg:        cfg,
		log:        cfg.Logger.With("sandbox", cfg.Sandbox.Name),
		jobsDir:    jobs,
		offsets:    newOffsets(),
		slots:      make(chan struct{}, 2*cfg.Sandbox.MaxConcurrent),
		containers: make(chan struct{}, cfg.Sandbox.MaxConcurrent),
		abort:      make(chan struct{}),
		inflight:   map[string]*run{},
		committed:  map[topicPartition]int64{},
		toCommit:   map[topicPartition]*kgo.Record{},
	}
	w.hard, w.hardStop = context.WithCancel(context.Background())
	w.fetching, w.stopFetches = context.WithCancel(w.hard)
	return w, nil
}

// Abort ends a drain at once: the scripts still running are stopped and
// their jobs left for redelivery.
func (w *Worker) Abort() {
	w.abortOnce.Do(func() { close(w.abort) })
}

// Run locks the state directory, removes the containers and job
// directories an earlier run of this worker left, joins the consumer group
// and answers jobs until ctx ends. Then it stops fetching, lets the
// running scripts finish for up to Config.DrainTimeout (or until Abort),
// stops the rest without answering or committing them, commits what is
// done and leaves the group. It returns an error if it could not start.
func (w *Worker) Run(ctx context.Context) error {
	defer w.hardStop()
	if err := w.setUp(ctx); err != nil {
		w.tearDown()
		return err
	}
	w.log.Info("kafka worker started", "brokers", w.cfg.Brokers, "topic", PendingTopic(w.cfg.Sandbox.Name),
		"group", Group(w.cfg.Sandbox.Name), "image", w.cfg.Sandbox.Image, "maxConcurrent", w.cfg.Sandbox.MaxConcurrent,
		"instance", w.instance)
	w.consume(ctx)
	w.stopFetches()
	w.drain()
	w.tearDown()
	w.log.Info("kafka worker stopped")
	return nil
}

func (w *Worker) setUp(ctx context.Context) error {
	var err error
	if w.state, err = openState(w.cfg.StateDir); err != nil {
		return err
	}
	w.instance = "kafka-" + w.cfg.Sandbox.Name + "-" + w.state.instance
	if err := os.MkdirAll(w.jobsDir, 0o700); err != nil {
		return fmt.Errorf("job files directory: %w", err)
	}
	dcfg := docker.Config{Instance: w.instance, Logger: w.log, OutputLimit: w.cfg.Sandbox.OutputLimit}
	if w.cfg.DockerHost != "" || w.cfg.DockerCertPath != "" {
		opts := []client.Opt{client.FromEnv}
		if host, _ := DockerHostURL(w.cfg.DockerHost); host != "" { // checked by New
			opts = append(opts, client.WithHost(host))
		}
		if d := w.cfg.DockerCertPath; d != "" {
			opts = append(opts, client.WithTLSClientConfig(filepath.Join(d, "ca.pem"), filepath.Join(d, "cert.pem"), filepath.Join(d, "key.pem")))
		}
		if dcfg.Client, err = client.New(opts...); err != nil {
			return fmt.Errorf("docker host %s: %w", w.cfg.DockerHost, err)
		}
	}
	if w.exec, err = docker.New(ctx, dcfg); err != nil {
		if dcfg.Client != nil {
			dcfg.Client.Close()
		}
		return err
	}
	w.dockerClient = dcfg.Client // the executor closes only a client it made
	// What an earlier run left: its containers (their jobs were not
	// committed, so they come again) and its job directories.
	if gone, err := w.exec.Cleanup(ctx); err != nil {
		return fmt.Errorf("removing leftover containers: %w", err)
	} else if len(gone) > 0 {
		w.log.Info("removed leftover sandbox containers", "count", len(gone))
	}
	if n, err := removeJobDirs(w.jobsDir, w.instance); err != nil {
		return fmt.Errorf("removing leftover job directories: %w", err)
	} else if n > 0 {
		w.log.Info("removed leftover job directories", "count", n)
	}
	w.prune()
	w.cl, err = kgo.NewClient(w.clientOpts()...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	return nil
}

func (w *Worker) clientOpts() []kgo.Opt {
	name := w.cfg.Sandbox.Name
	return []kgo.Opt{
		kgo.SeedBrokers(w.cfg.Brokers...),
		kgo.ClientID("berth-kafka-worker"),
		kgo.WithLogger(kgoLogger{w.log}),
		kgo.ConsumerGroup(Group(name)),
		kgo.ConsumeTopics(PendingTopic(name)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(w.cfg.SessionTimeout),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			w.log.Info("partitions assigned", "partitions", m)
			w.offsets.assign(m)
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m) == 0 {
				return
			}
			w.log.Info("partitions revoked", "partitions", m)
			w.commit(ctx, w.offsets.revoke(m)...)
			w.forget(m)
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m) == 0 {
				return
			}
			w.log.Warn("partitions lost", "partitions", m)
			w.offsets.revoke(m)
			w.forget(m)
		}),
		kgo.AllowAutoTopicCreation(),
		kgo.ProducerBatchMaxBytes(int32(w.cfg.MaxMessageBytes)),
	}
}

// consume polls one record per free slot and hands it to handle, until
// ctx ends.
func (w *Worker) consume(ctx context.Context) {
	for {
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		fs := w.cl.PollRecords(ctx, 1)
		if ctx.Err() != nil || fs.IsClientClosed() {
			<-w.slots
			return
		}
		fs.EachError(func(topic string, p int32, err error) {
			w.log.Warn("fetching", "topic", topic, "partition", p, "err", err)
		})
		recs := fs.Records()
		if len(recs) == 0 {
			<-w.slots
			if len(fs.Errors()) > 0 { // do not spin on a lasting error
				select {
				case <-time.After(time.Second):
				case <-ctx.Done():
					return
				}
			}
			continue
		}
		e := w.offsets.add(recs[0])
		if e == nil { // its partition went to another worker
			<-w.slots
			continue
		}
		w.jobs.Go(func() {
			defer func() { <-w.slots }()
			w.handle(e)
		})
	}
}

// drain waits for the jobs being answered, up to the drain timeout or an
// Abort, then stops the rest.
func (w *Worker) drain() {
	done := make(chan struct{})
	go func() { w.jobs.Wait(); close(done) }()
	running := len(w.containers)
	if running > 0 {
		w.log.Info("stopping: letting running scripts finish", "running", running, "timeout", w.cfg.DrainTimeout)
	}
	timer := time.NewTimer(w.cfg.DrainTimeout)
	defer timer.Stop()
	select {
	case <-done:
		return
	case <-timer.C:
	case <-w.abort:
	}
	w.log.Warn("stopping the scripts still running; their jobs stay uncommitted and come again", "running", len(w.containers))
	w.hardStop()
	<-done
}

// tearDown leaves the group (committing what is done) and lets go of the
// engine and the state directory.
func (w *Worker) tearDown() {
	if w.cl != nil {
		w.cl.Close() // calls OnPartitionsRevoked, which commits
	}
	if w.exec != nil {
		w.exec.Close()
	}
	if w.dockerClient != nil {
		w.dockerClient.Close()
	}
	w.hardStop()
	if w.state != nil {
		w.state.close()
	}
}

// handle answers one record: skips it if malformed, answers it again if
// its job has finished before, joins the run of its job if one is under
// way, else runs the job (or rejects it) and answers it.
func (w *Worker) handle(e *entry) {
	rec := e.rec
	m, err := ParseMessage(rec.Value)
	if err != nil {
		w.log.Warn("skipping a message", "partition", rec.Partition, "offset", rec.Offset,
			"key", clip(string(rec.Key), 100), "err", err)
		w.done(e)
		return
	}
	log := w.log.With("job", m.JobID)
	w.mu.Lock()
	if r := w.inflight[m.JobID]; r != nil {
		r.entries = append(r.entries, e)
		w.mu.Unlock()
		log.Info("the job came again while it runs; both are answered once it ends", "offset", rec.Offset)
		return
	}
	stored, ok, err := w.state.finished(m.JobID)
	if err != nil {
		log.Error("reading the job's finished record; running the job", "err", err)
	}
	if ok {
		w.mu.Unlock()
		log.Info("the job came again after it finished; answering again without running it", "offset", rec.Offset)
		if w.produceFinished(log, m.JobID, stored) {
			w.done(e)
		}
		return
	}
	r := &run{entries: []*entry{e}}
	w.inflight[m.JobID] = r
	w.mu.Unlock()

	f, err := w.execute(log, m)
	var (
		acked bool
		msg   []byte
	)
	if err == nil {
		msg = encodeFinished(f, w.valueLimit(m.JobID))
		if err := w.state.storeFinished(m.JobID, msg); err != nil {
			log.Error("recording the job's finished message (a redelivery would run it again)", "err", err)
		} else if w.stored.Add(1)%pruneEvery == 0 {
			w.jobs.Go(w.prune)
		}
		acked = w.produceFinished(log, m.JobID, msg)
	}
	w.mu.Lock()
	delete(w.inflight, m.JobID)
	entries := r.entries
	w.mu.Unlock()
	if !acked {
		return
	}
	w.done(entries[0])
	// Each delivery that joined the run gets the answer too.
	for _, e := range entries[1:] {
		if !w.produceFinished(log, m.JobID, msg) {
			return
		}
		w.done(e)
	}
}

// execute runs the job, or rejects it, and returns its finished message;
// errAborted if the worker's hard stop cut it short.
func (w *Worker) execute(log *slog.Logger, m *Message) (*Finished, error) {
	if m.Reject != "" {
		log.Warn("rejecting the job", "reason", m.Reject)
		return &Finished{JobID: m.JobID, Status: StatusRejected}, nil
	}
	if err := w.takeContainer(log); err != nil {
		if errors.Is(err, errNoCapacity) {
			return &Finished{JobID: m.JobID, Status: StatusRejected}, nil
		}
		return nil, err
	}
	defer func() { <-w.containers }()
	log.Info("running the job")
	var runningAcked chan struct{}
	started := func() {
		runningAcked = make(chan struct{})
		rec := &kgo.Record{Topic: TopicRunning, Key: []byte(m.JobID), Value: marshal(Running{JobID: m.JobID})}
		w.cl.Produce(w.hard, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				log.Warn("producing the running message", "err", err)
			}
			close(runningAcked)
		})
	}
	res, err := w.runScript(w.hard, m, started)
	if err != nil {
		return nil, err
	}
	if runningAcked != nil { // running goes out before finished
		select {
		case <-runningAcked:
		case <-w.hard.Done():
			return nil, errAborted
		}
	}
	return &Finished{JobID: m.JobID, Status: StatusAccepted, ScriptResults: res}, nil
}

// errNoCapacity: no container slot freed within the capacity timeout.
var errNoCapacity = errors.New("no container slot freed in time")

// takeContainer takes a container slot, waiting up to the capacity
// timeout: errNoCapacity past it, errAborted if the worker stops fetching
// first (the job is left for redelivery).
func (w *Worker) takeContainer(log *slog.Logger) error {
	select {
	case w.containers <- struct{}{}:
		return nil
	default:
	}
	log.Info("waiting for a container slot", "timeout", w.cfg.CapacityTimeout)
	timer := time.NewTimer(w.cfg.CapacityTimeout)
	defer timer.Stop()
	select {
	case w.containers <- struct{}{}:
		return nil
	case <-timer.C:
		log.Warn("rejecting the job: no container slot freed in time", "maxConcurrent", w.cfg.Sandbox.MaxConcurrent,
			"timeout", w.cfg.CapacityTimeout)
		return errNoCapacity
	case <-w.fetching.Done():
		return errAborted
	}
}

// valueLimit is the most a finished message's value for jobID may take.
func (w *Worker) valueLimit(jobID string) int {
	return w.cfg.MaxMessageBytes - len(jobID) - 512 // key, record and batch framing
}

// produceFinished produces a finished message and waits for the broker's
// acknowledgement, trying again until it comes or the hard stop. It
// reports whether the message was acknowledged.
func (w *Worker) produceFinished(log *slog.Logger, jobID string, msg []byte) bool {
	backoff := time.Second
	limit := w.valueLimit(jobID)
	for {
		rec := &kgo.Record{Topic: TopicFinished, Key: []byte(jobID), Value: msg}
		err := w.cl.ProduceSync(w.hard, rec).FirstErr()
		if err == nil {
			log.Info("answered", "bytes", len(msg))
			return true
		}
		if w.hard.Err() != nil {
			return false
		}
		if errors.Is(err, kerr.MessageTooLarge) && limit > minMessageBytes {
			// The topic takes less than we thought: cut the outputs more.
			limit /= 2
			var f Finished
			if jerr := json.Unmarshal(msg, &f); jerr == nil {
				msg = encodeFinished(&f, limit)
				log.Warn("the finished message is too large for the broker; cutting its outputs", "bytes", len(msg))
				continue
			}
		}
		log.Error("producing the finished message; trying again", "in", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-w.hard.Done():
			return false
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// done marks a record done and commits what that completes.
func (w *Worker) done(e *entry) {
	if r := w.offsets.done(e); r != nil {
		w.commit(w.hard, r)
	}
}

// commit commits through the given records, and through those of earlier
// commits that failed, never going back on an offset committed before.
func (w *Worker) commit(ctx context.Context, recs ...*kgo.Record) {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	for _, r := range recs {
		tp := topicPartition{r.Topic, r.Partition}
		if p := w.toCommit[tp]; p == nil || r.Offset > p.Offset {
			w.toCommit[tp] = r
		}
	}
	var todo []*kgo.Record
	for tp, r := range w.toCommit {
		if off, ok := w.committed[tp]; ok && r.Offset+1 <= off {
			delete(w.toCommit, tp)
			continue
		}
		todo = append(todo, r)
	}
	if len(todo) == 0 {
		return
	}
	if err := w.cl.CommitRecords(ctx, todo...); err != nil {
		w.log.Warn("committing offsets; the next commit tries again", "err", err)
		return
	}
	for _, r := range todo {
		tp := topicPartition{r.Topic, r.Partition}
		w.committed[tp] = r.Offset + 1
		delete(w.toCommit, tp)
		w.log.Debug("committed", "partition", r.Partition, "offset", r.Offset+1)
	}
}

// forget drops the offsets still to commit of partitions no longer ours.
func (w *Worker) forget(m map[string][]int32) {
	w.commitMu.Lock()
	defer w.commitMu.Unlock()
	for t, ps := range m {
		for _, p := range ps {
			delete(w.toCommit, topicPartition{t, p})
		}
	}
}

// prune removes the finished records past the dedup window.
func (w *Worker) prune() {
	if !w.pruning.CompareAndSwap(false, true) {
		return
	}
	defer w.pruning.Store(false)
	n, err := w.state.prune(time.Now().Add(-w.cfg.DedupWindow))
	if err != nil {
		w.log.Warn("pruning finished records", "err", err)
	}
	if n > 0 {
		w.log.Debug("pruned finished records", "count", n)
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// kgoLogger passes the Kafka client's warnings and errors to the worker's
// log; its info messages go at debug level.
type kgoLogger struct{ l *slog.Logger }

func (k kgoLogger) Level() kgo.LogLevel { return kgo.LogLevelInfo }

func (k kgoLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	l := slog.LevelDebug
	switch level {
	case kgo.LogLevelError:
		l = slog.LevelError
	case kgo.LogLevelWarn:
		l = slog.LevelWarn
	}
	k.l.Log(context.Background(), l, "kafka: "+msg, keyvals...)
}
