// Package scheduler decides what runs: queue order and priority, holds, job
// arrays and their max-parallel, dependencies, per-pool slot limits, retries.
// It is the only writer of job state: the server asks it to submit and
// control jobs, and workers report to it (claims, events, heartbeats) through
// dispatch. Every change is committed to the store before it is acknowledged;
// one whose commit fails is undone by reloading the state from the store
// (see rollback.go), so that its sender's retry is handled anew.
//
// The scheduler keeps the unended jobs in memory, rebuilt from the store at
// start. One mutex guards that state; store writes happen under it, so the
// order of commits is the order of decisions. Requests to workers (control)
// are sent without it held. Its other duties have locks of their own: the
// events to subscribers (fanout.go) and the queue of work to publish
// (dispatch.go).
//
// Every change of a task's state goes through the state machine of
// job.Transitions (transition.go).
package scheduler

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/store"
)

// Dispatcher carries work and control to workers. dispatch.Publisher (with
// dispatch's Control) implements it.
type Dispatcher interface {
	PublishWork(ctx context.Context, w *dispatch.Work) error
	PurgeWork(ctx context.Context) error
	Control(ctx context.Context, worker string, c *dispatch.Control) (*dispatch.ControlReply, error)
}

// Config configures a Scheduler.
type Config struct {
	// Store keeps the jobs. Required.
	Store *store.Store
	// Dispatcher sends work and control to workers. Required.
	Dispatcher Dispatcher
	// DataDir holds the tasks' files. Required.
	DataDir datadir.Dir
	// Slots bounds the tasks running at once in each pool named. Pools not
	// named get DefaultSlots.
	Slots map[string]int
	// DefaultSlots is the slot limit of pools not in Slots. Defaults to the
	// number of CPUs.
	DefaultSlots int
	// StopGrace is the time between SIGTERM and SIGKILL when a job is
	// stopped. Defaults to StopGraceDefault.
	StopGrace time.Duration
	// WorkerTimeout is how long a worker may go unheard before its tasks
	// are taken as lost. Defaults to dispatch.WorkerTimeout.
	WorkerTimeout time.Duration
	// Lease is how long an answered heartbeat lets a worker run its tasks;
	// one that cannot renew it stops them. It must leave the worker time
	// to kill them before WorkerTimeout. Defaults to WorkerTimeout in the
	// proportion of dispatch.LeasePeriod to dispatch.WorkerTimeout.
	Lease time.Duration
	// Logger receives the scheduler's logs. Defaults to discarding them.
	Logger *slog.Logger
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
	// Observer, when set, is told of commits and state changes (metrics).
	Observer Observer
	// Retention, when set, removes ended jobs, their rows and files, once
	// they have been ended this long (see retention.go). Defaults to 0:
	// ended jobs are kept until removed.
	Retention time.Duration
}

// StopGraceDefault is the default time a stopped job gets to exit after SIGTERM.
const StopGraceDefault = 10 * time.Second

func (c Config) withDefaults() Config {
	c.DefaultSlots = cmp.Or(c.DefaultSlots, runtime.NumCPU())
	c.StopGrace = cmp.Or(c.StopGrace, StopGraceDefault)
	c.WorkerTimeout = cmp.Or(c.WorkerTimeout, dispatch.WorkerTimeout)
	c.Lease = cmp.Or(c.Lease, c.WorkerTimeout*dispatch.LeasePeriod/dispatch.WorkerTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("scheduler: Config.Store is required")
	case c.Dispatcher == nil:
		return errors.New("scheduler: Config.Dispatcher is required")
	case c.DataDir == "":
		return errors.New("scheduler: Config.DataDir is required")
	case c.DefaultSlots < 0:
		return errors.New("scheduler: Config.DefaultSlots must not be negative")
	case c.Retention < 0:
		return errors.New("scheduler: Config.Retention must not be negative")
	case c.Lease <= 0 || c.Lease >= c.WorkerTimeout:
		return fmt.Errorf("scheduler: Config.Lease %s must be positive and shorter than WorkerTimeout %s", c.Lease, c.WorkerTimeout)
	}
	for p, n := range c.Slots {
		if n < 1 {
			return fmt.Errorf("scheduler: Config.Slots[%q] must be 1 or more", p)
		}
	}
	return nil
}

// Scheduler is the state machine of jobs. Create it with New, then Start.
type Scheduler struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	jobs       map[int64]*jobState // unended jobs
	pools      map[string]*pool
	workers    map[string]*workerState
	dependents map[int64][]int64              // job → unended jobs waiting for it
	retry      *time.Timer                    // re-dispatch after a failed publish
	lazy       map[*task]struct{}             // changes to write with the next commit
	handoffs   map[dispatch.TaskKey]*workItem // ended attempt → work handed over in its reply
	lazyTimer  *time.Timer
	// stale is set when a commit failed and the state could not yet be
	// reloaded from the store; reloading while load runs (see rollback.go).
	stale, reloading bool
	failedAt         time.Time // of the last failed commit
	failedErr        error     // and its error

	// invalid counts the state changes the state machine refused (bugs;
	// see moveLocked).
	invalid atomic.Int64

	// fan sends events to subscribers, under a lock of its own.
	fan fanout

	// Work to publish, queued in decision order (see publish), under a
	// lock of its own.
	pubMu      sync.Mutex
	pubQueue   []*workItem
	pubPending int
	pubIdle    *sync.Cond
	pubWake    chan struct{}

	// afterFunc runs f after d (time.AfterFunc; tests fire it themselves).
	afterFunc func(d time.Duration, f func())

	// ready is closed once Start has loaded the store: workers' reports
	// that come earlier wait for it, since before it every task looks
	// unknown and every report stale.
	ready chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// awaitReady waits until the store is loaded, or ctx is done.
func (s *Scheduler) awaitReady(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the server is starting: %w", ctx.Err())
	}
}

// New returns a scheduler; Start loads the store and begins dispatching.
func New(cfg Config) (*Scheduler, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Scheduler{
		cfg:        cfg,
		log:        cfg.Logger,
		jobs:       make(map[int64]*jobState),
		pools:      make(map[string]*pool),
		workers:    make(map[string]*workerState),
		dependents: make(map[int64][]int64),
		pubWake:    make(chan struct{}, 1),
		lazy:       make(map[*task]struct{}),
		handoffs:   make(map[dispatch.TaskKey]*workItem),
		ready:      make(chan struct{}),
		afterFunc:  func(d time.Duration, f func()) { time.AfterFunc(d, f) },
	}
	s.pubIdle = sync.NewCond(&s.pubMu)
	return s, nil
}

// Start rebuilds the queue from the store, purges stale work from the
// stream (the store is the source of truth; every queued task is dispatched
// anew) and starts dispatching. It returns once the scheduler is ready.
func (s *Scheduler) Start(ctx context.Context) error {
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := s.cfg.Dispatcher.PurgeWork(ctx); err != nil {
		return fmt.Errorf("scheduler: purging stale work: %w", err)
	}
	if err := s.load(ctx); err != nil {
		return fmt.Errorf("scheduler: loading jobs: %w", err)
	}
	close(s.ready)
	s.wg.Add(2)
	go s.watchWorkers()
	go s.publisher()
	if s.cfg.Retention > 0 {
		s.wg.Add(1)
		go s.sweeper()
	}
	s.mu.Lock()
	works := s.dispatchLocked()
	s.mu.Unlock()
	s.publish(works)
	return nil
}

// Stop ends the scheduler's background work and closes all subscriptions.
func (s *Scheduler) Stop() {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.retry != nil {
		s.retry.Stop()
	}
	if s.lazyTimer != nil {
		s.lazyTimer.Stop()
	}
	if len(s.lazy) > 0 {
		_ = s.commitLocked(context.Background(), nil)
	}
	s.fan.close()
}
