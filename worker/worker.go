package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/job"
)

// Worker pulls its pool's work and runs it. Create it with New and run it
// with Run, once.
type Worker struct {
	cfg  Config
	conn *dispatch.Conn
	log  *slog.Logger

	// life bounds everything the worker does, including reporting ends
	// after Run's context is canceled; it ends at the shutdown deadline.
	life context.Context
	wg   sync.WaitGroup // task and lost-report goroutines

	mu       sync.Mutex
	started  bool
	stopping bool                       // shutting down: start nothing more
	tasks    map[dispatch.TaskKey]*task // claimed, end not yet recorded
	lost     map[dispatch.TaskKey]bool  // lost at restart, end not yet recorded

	leaseUntil time.Time     // the lease on the held tasks ends then (lease.go)
	leaseTimer *time.Timer   // fences at leaseUntil
	leasePer   time.Duration // the lease the server grants, for renewals without it
	renewed    chan struct{} // closed and replaced at each renewal

	// madeDir is the job directory this worker last made or found (local
	// workers only), so that a job's tasks do not each ask for it again.
	madeDir atomic.Pointer[string]
}

// New checks cfg and returns a worker.
func New(cfg Config) (*Worker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Worker{
		cfg:      cfg,
		conn:     cfg.Conn,
		log:      cfg.Logger.With("worker", cfg.ID),
		tasks:    map[dispatch.TaskKey]*task{},
		lost:     map[dispatch.TaskKey]bool{},
		leasePer: dispatch.LeasePeriod,
		renewed:  make(chan struct{}),
	}, nil
}

// ID returns the worker's ID.
func (w *Worker) ID() string { return w.cfg.ID }

// Run runs the worker until ctx is canceled. It then stops pulling,
// terminates the tasks it runs (sub-state SHUTDOWN), and returns once their
// ends are recorded by the server, or with an error at the shutdown timeout.
func (w *Worker) Run(ctx context.Context) error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return errors.New("worker: Run called twice")
	}
	w.started = true
	w.mu.Unlock()

	life, endLife := context.WithCancel(context.WithoutCancel(ctx))
	defer endLife()
	w.life = life

	if _, err := w.conn.ServeControl(life, w.cfg.ID, w.control); err != nil {
		return fmt.Errorf("worker %s: %w", w.cfg.ID, err)
	}
	// What an earlier run left running is followed within the lease it
	// left; without a watchdog to say, within one lease from now.
	w.mu.Lock()
	if w.cfg.Fence != nil {
		w.leaseUntil = w.cfg.Fence.Until()
	} else {
		w.leaseUntil = time.Now().Add(w.leasePer)
	}
	w.armLeaseLocked()
	w.mu.Unlock()
	w.killSessions() // their tasks are lost: the session is gone
	w.removeStaleBoxes(ctx)
	w.adopt(ctx)      // first: what can be followed again is not lost
	w.reportLost(ctx) // before the first heartbeat, which lists them
	// The first heartbeat, before anything is reported or started: it
	// renews the lease and drops what the server no longer grants.
	w.beat()
	defer func() {
		w.mu.Lock()
		if w.leaseTimer != nil {
			w.leaseTimer.Stop()
		}
		w.mu.Unlock()
	}()
	hbDone := make(chan struct{})
	hbStopped := make(chan struct{})
	go func() {
		defer close(hbStopped)
		w.heartbeats(hbDone)
	}()
	defer func() {
		close(hbDone)
		<-hbStopped
		w.beat() // a last one, with what is still held
	}()
	w.checkLease()

	w.log.Info("worker running", "pool", w.cfg.Pool, "slots", w.cfg.Slots)
	src, err := w.conn.WorkSource(ctx, w.cfg.Pool)
	if err == nil {
		w.pull(ctx, src)
	}
	if serr := w.shutdown(endLife); serr != nil || ctx.Err() != nil {
		return serr
	}
	return fmt.Errorf("worker %s: %w", w.cfg.ID, err)
}

// shutdown stops the held tasks and waits, up to the shutdown timeout, for
// their ends to be recorded.
func (w *Worker) shutdown(endLife context.CancelFunc) error {
	w.mu.Lock()
	w.stopping = true
	held := make([]*task, 0, len(w.tasks))
	for _, t := range w.tasks {
		held = append(held, t)
	}
	w.mu.Unlock()
	w.log.Info("worker stopping", "tasks", len(held))
	if w.cfg.DrainTimeout > 0 && len(held) > 0 {
		if w.drain() {
			w.log.Info("worker stopped: its tasks finished")
			return nil
		}
		w.mu.Lock()
		held = held[:0]
		for _, t := range w.tasks {
			held = append(held, t)
		}
		w.mu.Unlock()
		w.log.Info("drain timeout reached, stopping the tasks left", "tasks", len(held), "timeout", w.cfg.DrainTimeout)
	}
	for _, t := range held {
		if err := w.stop(t, job.ReasonShutdown, w.cfg.StopGrace); err != nil {
			w.log.Warn("cannot stop task", "task", t.key.String(), "error", err)
		}
	}

	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	timer := time.NewTimer(w.cfg.ShutdownTimeout)
	defer timer.Stop()
	select {
	case <-done:
		w.log.Info("worker stopped")
		return nil
	case <-timer.C:
	}
	endLife() // gives up sending events and acks; the work is redelivered
	<-done
	w.mu.Lock()
	n := len(w.tasks) + len(w.lost)
	w.mu.Unlock()
	return fmt.Errorf("worker %s: the ends of %d tasks were not recorded within the shutdown timeout %s",
		w.cfg.ID, n, w.cfg.ShutdownTimeout)
}

// hold records t as held; during shutdown it is marked to stop before it starts.
func (w *Worker) hold(t *task) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.tasks[t.key] = t
	if w.stopping {
		t.mu.Lock()
		t.setReason(job.ReasonShutdown)
		t.mu.Unlock()
	}
}

func (w *Worker) release(k dispatch.TaskKey) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.tasks, k)
}

func (w *Worker) task(k dispatch.TaskKey) *task {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.tasks[k]
}

// drain waits up to DrainTimeout for the tasks held to finish on their own
// (nothing new starts once stopping is set) and reports whether they did.
func (w *Worker) drain() bool {
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	timer := time.NewTimer(w.cfg.DrainTimeout)
	defer timer.Stop()
	select {
	case <-done:
		return true
	case <-timer.C:
		return false
	}
}
