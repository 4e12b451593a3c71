package ui

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-run/berth/internal/cli/display"
	"github.com/berth-run/berth/job"
)

// The pages follow the server through digests, not through the events
// themselves: the dashboard takes one subscription to the scheduler's
// events, gathers what changed over a window (LiveWindow), and then encodes
// one digest for the jobs pages and one per job that a job page watches.
// Every page watching gets the same bytes. Twenty dashboards on a busy
// server thus cost it one subscriber and a few writes a second each,
// however many events there are.

// LiveWindow is how long changes are gathered into one digest.
const LiveWindow = 250 * time.Millisecond

const (
	// liveSubscribeBuf is the events the dashboard's subscription may fall
	// behind by; it drains them at once, so only a stalled server loses it.
	liveSubscribeBuf = 16384
	// liveClientBuf is the digests a page may fall behind by before it is
	// dropped (it reconnects and re-reads what it shows).
	liveClientBuf = 16
	// liveRowsMax bounds the rows of a digest: the newest, a page's worth.
	liveRowsMax = jobsPageSize
	// liveCountsFor bounds how long after the last change the counts are
	// looked at again (once a second) while their caches catch up.
	liveCountsFor = 30 * time.Second
	// liveSeenMax bounds the set of jobs known to the jobs pages.
	liveSeenMax = 8192
)

// Digest is what a page gets each window (as the data of an SSE "digest"
// event, in JSON). Empty fields are left out.
type Digest struct {
	// Jobs are the jobs that changed, by ID.
	Jobs []JobChange `json:"jobs,omitempty"`
	// Rows are the jobs table's rows (HTML) of the jobs that appeared or
	// ended (jobs pages only), by job ID.
	Rows map[int64]string `json:"rows,omitempty"`
	// Counts are the jobs by state and "total" (jobs pages, when changed).
	Counts map[string]int `json:"counts,omitempty"`
	// Tasks are the watched job's tasks that changed (job pages only).
	Tasks []TaskChange `json:"tasks,omitempty"`
	// TaskCounts is the watched job's "Tasks" field, as berth show has it
	// (arrays only).
	TaskCounts string `json:"task_counts,omitempty"`
}

// JobChange is a job's state at the end of a window.
type JobChange struct {
	Job     int64     `json:"job"`
	State   job.State `json:"state"`
	Ended   bool      `json:"ended,omitempty"`
	Removed bool      `json:"removed,omitempty"`
}

// TaskChange is a task's state at the end of a window.
type TaskChange struct {
	Index int       `json:"index"`
	State job.State `json:"state"`
	// Text is the state with its sub-state ("Failed CANCELED").
	Text string `json:"text"`
}

// LiveReset is sent instead of a digest when changes were lost (the
// subscription fell behind): the page re-reads what it shows.
var LiveReset = []byte("event: reset\ndata: {}\n\n")

// liveClient is one page following the digests.
type liveClient struct {
	job int64 // the job a job page watches; 0 for a jobs page
	ch  chan []byte
}

// liveJob is a watched job: its spec for the Tasks field, and how many
// pages watch it.
type liveJob struct {
	pages int
	job   *job.Job // nil until read from the store
}

// pendingJob is what a window gathered of a job.
type pendingJob struct {
	JobChange
	endedOnce bool // ended at some point in the window: its row is redone
	tasks     map[int]TaskChange
}

// live gathers the events into digests and hands them to the pages.
type live struct {
	u *UI

	mu      sync.Mutex
	clients map[*liveClient]struct{}
	lists   int                // jobs pages following
	watched map[int64]*liveJob // jobs that job pages follow
	sub     *liveSub           // the scheduler subscription; nil without pages
	// The window: what changed, whether a flush is due (armed) and
	// whether changes were lost.
	pending map[int64]*pendingJob
	armed   bool
	lost    bool
	// seen are jobs the jobs pages have had a row of; counts the counts
	// last sent; changedAt the last window with changes, and countsFresh
	// whether counts were made after it.
	seen        map[int64]struct{}
	counts      map[string]int
	changedAt   time.Time
	countsFresh bool
}

// liveSub is one subscription to the scheduler's events.
type liveSub struct{ cancel func() }

// Follow subscribes a page to the digests: those of the jobs pages when
// jobID is 0, else those of the job. The channel is closed when the page
// falls behind; stop ends the subscription.
func (u *UI) Follow(jobID int64) (digests <-chan []byte, stop func()) {
	return u.hub.add(jobID)
}

func (l *live) add(jobID int64) (<-chan []byte, func()) {
	c := &liveClient{job: jobID, ch: make(chan []byte, liveClientBuf)}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients == nil {
		l.clients, l.watched = map[*liveClient]struct{}{}, map[int64]*liveJob{}
		l.pending, l.seen = map[int64]*pendingJob{}, map[int64]struct{}{}
	}
	l.clients[c] = struct{}{}
	if jobID == 0 {
		l.lists++
	} else if w := l.watched[jobID]; w != nil {
		w.pages++
	} else {
		l.watched[jobID] = &liveJob{pages: 1}
	}
	if l.sub == nil {
		l.subscribeLocked()
	}
	return c.ch, func() { l.remove(c) }
}

func (l *live) remove(c *liveClient) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropLocked(c)
}

func (l *live) dropLocked(c *liveClient) {
	if _, ok := l.clients[c]; !ok {
		return
	}
	delete(l.clients, c)
	close(c.ch)
	if c.job == 0 {
		l.lists--
	} else if w := l.watched[c.job]; w != nil {
		if w.pages--; w.pages == 0 {
			delete(l.watched, c.job)
		}
	}
	if len(l.clients) == 0 && l.sub != nil {
		// Nobody watches: an idle dashboard costs the scheduler nothing.
		l.sub.cancel()
		l.sub = nil
		clear(l.pending)
		clear(l.seen)
		l.counts, l.lost = nil, false
	}
}

func (l *live) subscribeLocked() {
	events, cancel := l.u.cfg.Scheduler.Subscribe(liveSubscribeBuf)
	sub := &liveSub{cancel: cancel}
	l.sub = sub
	go l.read(sub, events)
}

// read takes the events of sub into the window, a batch at a time.
func (l *live) read(sub *liveSub, events <-chan job.Event) {
	batch := make([]job.Event, 0, 256)
	for ev := range events {
		batch = append(batch[:0], ev)
	more:
		for len(batch) < cap(batch) {
			select {
			case ev, ok := <-events:
				if !ok {
					break more
				}
				batch = append(batch, ev)
			default:
				break more
			}
		}
		l.mu.Lock()
		if l.sub == sub {
			for i := range batch {
				l.recordLocked(&batch[i])
			}
		}
		l.mu.Unlock()
	}
	// Closed: unsubscribed, or dropped for falling behind. In the latter
	// case the pages still watching are told to re-read.
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.sub == sub {
		l.subscribeLocked()
		l.lost = true
		l.armLocked()
	}
}

// recordLocked notes an event in the window, if a page cares.
func (l *live) recordLocked(ev *job.Event) {
	w := l.watched[ev.Job]
	if l.lists == 0 && w == nil {
		return
	}
	p := l.pending[ev.Job]
	if p == nil {
		p = &pendingJob{}
		l.pending[ev.Job] = p
	}
	p.JobChange = JobChange{Job: ev.Job, State: ev.JobState, Ended: ev.JobEnded, Removed: ev.Removed}
	p.endedOnce = p.endedOnce || ev.JobEnded
	if w != nil && !ev.Removed {
		if p.tasks == nil {
			p.tasks = map[int]TaskChange{}
		}
		p.tasks[ev.Index] = TaskChange{Index: ev.Index, State: ev.State,
			Text: strings.TrimSpace(string(ev.State) + " " + ev.SubState.String())}
	}
	l.armLocked()
}

// armLocked makes sure a flush comes within a window.
func (l *live) armLocked() {
	if !l.armed {
		l.armed = true
		time.AfterFunc(LiveWindow, l.flush)
	}
}

// flush encodes the window's digests and hands them out. Only one runs at
// a time (armed stays set until it is done), so digests keep their order.
func (l *live) flush() {
	l.mu.Lock()
	pending, lost := l.pending, l.lost
	l.pending, l.lost = map[int64]*pendingJob{}, false
	lists := l.lists > 0
	type watch struct {
		id int64
		w  *liveJob
	}
	var watches []watch
	for id, p := range pending {
		if w := l.watched[id]; w != nil && (p.tasks != nil || p.Removed) {
			watches = append(watches, watch{id, w})
		}
	}
	var fresh []int64 // jobs whose rows to send
	if lists {
		for id, p := range pending {
			if _, ok := l.seen[id]; (!ok || p.endedOnce) && !p.Removed {
				fresh = append(fresh, id)
			}
			if len(l.seen) >= liveSeenMax {
				clear(l.seen) // a few rows sent again
			}
			l.seen[id] = struct{}{}
		}
		if len(pending) > 0 {
			l.changedAt, l.countsFresh = time.Now(), false
		}
	}
	changedAt := l.changedAt
	countsDue := lists && l.countsDueLocked()
	last := l.counts
	l.mu.Unlock()

	// The work is done without the lock: the pages' events keep coming.
	ctx := context.Background()
	var list []byte
	var counts map[string]int
	upToDate := false
	if lists && (len(pending) > 0 || countsDue) {
		d := Digest{}
		for _, p := range pending {
			d.Jobs = append(d.Jobs, p.JobChange)
		}
		slices.SortFunc(d.Jobs, func(a, b JobChange) int { return cmp.Compare(a.Job, b.Job) })
		if len(fresh) > 0 {
			slices.Sort(fresh)
			fresh = fresh[max(len(fresh)-liveRowsMax, 0):]
			// Not from the cache: a row cached when the job appeared
			// would undo the end that this window brings.
			if rows, err := l.u.renderRows(ctx, fresh, time.Now(), true); err == nil {
				d.Rows = rows
			} else {
				l.u.log.Error("rendering the dashboard's rows", "err", err)
			}
		}
		c, total, asOf := l.u.jobCountsAt(ctx)
		upToDate = !asOf.Before(changedAt)
		counts = map[string]int{"total": total}
		for st, n := range c {
			counts[string(st)] = n
		}
		if !maps.Equal(counts, last) {
			d.Counts = counts
		}
		if len(d.Jobs) > 0 || len(d.Rows) > 0 || d.Counts != nil {
			list = encodeDigest(&d)
		}
	}
	byJob := make(map[int64][]byte, len(watches))
	for _, w := range watches {
		byJob[w.id] = encodeDigest(l.jobDigest(ctx, w.w, pending[w.id]))
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	if counts != nil {
		l.counts = counts
		if upToDate && l.changedAt.Equal(changedAt) {
			l.countsFresh = true
		}
	}
	for c := range l.clients {
		msg := byJob[c.job]
		if c.job == 0 {
			msg = list
		}
		if lost {
			msg = LiveReset
		}
		if msg == nil {
			continue
		}
		select {
		case c.ch <- msg:
		default:
			l.dropLocked(c) // it reconnects and re-reads
		}
	}
	l.armed = false
	if len(l.pending) > 0 || l.lost {
		l.armLocked()
	} else if l.lists > 0 && l.countsDueLocked() {
		// The counts come from caches a second old (the ended jobs' less
		// often on a big store): look again until they are newer than
		// the last change.
		l.armed = true
		time.AfterFunc(time.Second, l.flush)
	}
}

// countsDueLocked reports whether the counts sent may be older than the
// last change.
func (l *live) countsDueLocked() bool {
	return !l.countsFresh && !l.changedAt.IsZero() && time.Since(l.changedAt) < liveCountsFor
}

// jobDigest is the digest of a watched job's window.
func (l *live) jobDigest(ctx context.Context, w *liveJob, p *pendingJob) *Digest {
	d := &Digest{Jobs: []JobChange{p.JobChange}}
	for _, t := range p.tasks {
		d.Tasks = append(d.Tasks, t)
	}
	slices.SortFunc(d.Tasks, func(a, b TaskChange) int { return cmp.Compare(a.Index, b.Index) })
	if p.Removed {
		return d
	}
	// The Tasks field: the counts of an unended job are in the
	// scheduler's memory; an ended one's are read once, from the store.
	l.mu.Lock()
	j := w.job
	l.mu.Unlock()
	if j != nil && !j.IsArray() {
		return d // no Tasks field
	}
	if counts, ok := l.u.cfg.Scheduler.JobTasks(p.Job); ok && j != nil {
		c := *j
		c.Tasks = counts
		d.TaskCounts = display.TaskCounts(&c)
		return d
	}
	j, err := l.u.cfg.Store.JobGet(ctx, p.Job)
	if err != nil {
		return d
	}
	l.mu.Lock()
	w.job = j
	l.mu.Unlock()
	d.TaskCounts = display.TaskCounts(j)
	return d
}

func encodeDigest(d *Digest) []byte {
	data, err := json.Marshal(d)
	if err != nil {
		return nil
	}
	b := make([]byte, 0, len(data)+24)
	b = append(b, "event: digest\ndata: "...)
	b = append(b, data...)
	return append(b, "\n\n"...)
}
