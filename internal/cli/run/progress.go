package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/client"
	"github.com/berth-run/berth/job"
)

// progress shows an array job's task counts while berth waits for it: on a
// terminal one line redrawn in place, with the elapsed time ticking;
// elsewhere a plain line each time the counts change.
type progress struct {
	w     io.Writer
	tty   bool
	id    int64
	total int
	start time.Time
	now   func() time.Time
	// every is how often a terminal line is redrawn for the elapsed time
	// alone (0: never, for tests).
	every time.Duration

	counts counts
	last   counts // what was last printed off a terminal
	drawn  bool   // a line is on the terminal, unfinished
}

// counts are the tasks of a job by what a user waits for.
type counts struct{ done, failed, running, queued int }

func countStates(m map[job.State]int) counts {
	var c counts
	for st, n := range m {
		switch {
		case st == job.Done:
			c.done += n
		case st == job.Failed:
			c.failed += n
		case st.Active():
			c.running += n
		default:
			c.queued += n
		}
	}
	return c
}

func countTasks(tasks []*job.Task) counts {
	m := map[job.State]int{}
	for _, t := range tasks {
		m[t.State]++
	}
	return countStates(m)
}

// line renders the counts and the time since the start.
func (p *progress) line() string {
	c := p.counts
	elapsed := p.now().Sub(p.start).Truncate(time.Second)
	return fmt.Sprintf("job %d: %d done, %d failed, %d running, %d queued (%d tasks, %s elapsed)",
		p.id, c.done, c.failed, c.running, c.queued, p.total, elapsed)
}

// set records new counts and shows them.
func (p *progress) set(c counts) {
	p.counts = c
	p.draw()
}

// draw shows the counts: in place on a terminal, as a new line elsewhere
// when they changed since the last line.
func (p *progress) draw() {
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K%s", p.line())
		p.drawn = true
		return
	}
	if p.counts != p.last {
		p.last = p.counts
		fmt.Fprintln(p.w, p.line())
	}
}

// finish ends the line on a terminal, so that what follows starts on its own.
func (p *progress) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}

// follow keeps the counts up to date from the job's events until ctx ends;
// on a terminal it redraws every second for the elapsed time. The counts
// come from the job itself, read again after each burst of events, so that
// a missed event costs nothing but a late line.
func (p *progress) follow(ctx context.Context, c *client.Client) {
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	go p.events(ctx, c, poke)
	var tick <-chan time.Time
	if p.tty && p.every > 0 {
		t := time.NewTicker(p.every)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			p.draw()
		case <-kick:
			j, err := c.Job(ctx, p.id)
			if err != nil {
				continue // the wait says what is wrong; the counts just lag
			}
			p.set(countStates(j.Tasks))
		}
	}
}

// events pokes on each event of the job, and once each time the stream is
// (re)opened, reopening it when the server goes away and comes back.
func (p *progress) events(ctx context.Context, c *client.Client, poke func()) {
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		es, err := c.Events(ctx, []int64{p.id})
		var apiErr *client.APIError
		if errors.As(err, &apiErr) && apiErr.Code != api.CodeUnavailable {
			return // a server that has no events: counts only at the end
		}
		if err == nil {
			delay = 100 * time.Millisecond
			poke()
			for ev, err := range es.All() {
				if err != nil {
					break
				}
				if ev.Job == p.id {
					poke()
				}
			}
			es.Close()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}
