package docker

import (
	"fmt"
	"strconv"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// startEvents subscribes to the engine's events about the executor's
// containers and follows them in the background until Close. Each
// subscription asks for the events since the last one seen (at first: since
// just before subscribing), so that none are lost between subscriptions.
func (e *Executor) startEvents() error {
	since := time.Now().Add(-time.Second)
	sub := e.subscribe(since)
	// Fail early if the engine refuses: the first error arrives at once.
	select {
	case err := <-sub.Err:
		if err != nil {
			return fmt.Errorf("docker events: %w", err)
		}
	default:
	}
	e.goroutine(func() { e.followEvents(sub, since) })
	return nil
}

func (e *Executor) subscribe(since time.Time) client.EventsResult {
	f := make(client.Filters).
		Add("type", string(events.ContainerEventType)).
		Add("label", LabelExecutor+"="+e.cfg.Instance)
	return e.cli.Events(e.ctx, client.EventsListOptions{
		Since:   fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
		Filters: f,
	})
}

func (e *Executor) followEvents(sub client.EventsResult, since time.Time) {
	for attempt := 0; ; {
		select {
		case m := <-sub.Messages:
			attempt = 0
			if m.TimeNano > 0 {
				since = time.Unix(0, m.TimeNano)
			}
			e.dispatch(m)
			continue
		case err := <-sub.Err:
			if e.ctx.Err() != nil {
				return
			}
			attempt++
			e.log.Warn("docker events stream ended; subscribing again", "err", err)
			select {
			case <-time.After(time.Duration(min(attempt, 10)) * 500 * time.Millisecond):
			case <-e.ctx.Done():
				return
			}
			sub = e.subscribe(since)
		case <-e.ctx.Done():
			return
		}
	}
}

// dispatch applies an event to the task of its container.
func (e *Executor) dispatch(m events.Message) {
	t := e.byContainer(m.Actor.ID)
	if t == nil {
		return
	}
	switch m.Action {
	case events.ActionStart:
		t.update(func() {
			t.starts++
			if t.exit == nil {
				if t.state == job.Requeued {
					t.changes = append(t.changes, executor.Status{State: job.Running, Restarts: t.restarts})
				}
				t.state = job.Running
			}
		})
	case events.ActionPause:
		t.paused(job.Suspended)
	case events.ActionUnPause:
		t.paused(job.Running)
	case events.ActionKill:
		sig, _ := strconv.Atoi(m.Actor.Attributes["signal"])
		t.update(func() {
			t.kills++
			if sig > 0 {
				t.signals[sig] = true
			}
		})
	case events.ActionOOM:
		t.update(func() { t.oom = true })
	case events.ActionDie:
		t.update(func() {
			t.died = true
			if m.TimeNano > 0 {
				t.dieTime = time.Unix(0, m.TimeNano)
			} else if m.Time > 0 {
				t.dieTime = time.Unix(m.Time, 0)
			}
			if c, err := strconv.Atoi(m.Actor.Attributes["exitCode"]); err == nil {
				t.dieCode = &c
			}
		})
	}
}
