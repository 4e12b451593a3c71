package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/berth-run/berth/api"
	"github.com/berth-run/berth/job"
)

// Health asks the server whether it is up. A starting server is waited for
// (see WithStartWait).
func (c *Client) Health(ctx context.Context) (*api.Health, error) {
	var h api.Health
	if err := c.do(ctx, http.MethodGet, "/health", nil, nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// Submit submits a job and returns it as recorded.
func (c *Client) Submit(ctx context.Context, spec job.Spec) (*job.Job, error) {
	var j job.Job
	if err := c.do(ctx, http.MethodPost, "/jobs", nil, spec, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// SubmitOpenJD submits an Open Job Description job: the server checks its
// templates and values and submits one job per step, which workers run in
// sessions. Errors name the field at fault, as for Submit.
func (c *Client) SubmitOpenJD(ctx context.Context, sub *job.OpenJDJob) (*job.OpenJDSubmitted, error) {
	var out job.OpenJDSubmitted
	if err := c.do(ctx, http.MethodPost, "/openjd/jobs", nil, sub, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListParams filters Jobs. Zero fields do not filter.
type ListParams struct {
	// States keeps jobs whose summarized state is one of these.
	States []job.State
	// Name is a shell glob on the job name.
	Name string
	// Labels must all match.
	Labels map[string]string
	// Since keeps jobs submitted at or after it.
	Since time.Time
	IDs   []int64
	// AfterID and Limit page through jobs in ID order. Limit defaults to
	// the server's (1000).
	AfterID int64
	Limit   int
}

func (p *ListParams) query() url.Values {
	q := url.Values{}
	for _, s := range p.States {
		q.Add("state", string(s))
	}
	if p.Name != "" {
		q.Set("name", p.Name)
	}
	for k, v := range p.Labels {
		q.Add("label", k+"="+v)
	}
	if !p.Since.IsZero() {
		q.Set("since", p.Since.UTC().Format(time.RFC3339Nano))
	}
	for _, id := range p.IDs {
		q.Add("id", strconv.FormatInt(id, 10))
	}
	if p.AfterID > 0 {
		q.Set("after_id", strconv.FormatInt(p.AfterID, 10))
	}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	return q
}

// Jobs returns one page of jobs in ID order.
func (c *Client) Jobs(ctx context.Context, p ListParams) (*api.JobPage, error) {
	var page api.JobPage
	if err := c.do(ctx, http.MethodGet, "/jobs", p.query(), nil, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// JobsAll walks every page of Jobs from p.AfterID on, yielding each job;
// p.Limit is the page size. It stops at the first error, which it yields.
func (c *Client) JobsAll(ctx context.Context, p ListParams) iter.Seq2[*job.Job, error] {
	return func(yield func(*job.Job, error) bool) {
		for {
			page, err := c.Jobs(ctx, p)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, j := range page.Jobs {
				if !yield(j, nil) {
					return
				}
			}
			// Guard against a server that would send us round in circles.
			if page.NextAfterID <= p.AfterID || len(page.Jobs) == 0 {
				return
			}
			p.AfterID = page.NextAfterID
		}
	}
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, id int64) (*job.Job, error) {
	var j job.Job
	if err := c.do(ctx, http.MethodGet, "/jobs/"+strconv.FormatInt(id, 10), nil, nil, &j); err != nil {
		return nil, err
	}
	return &j, nil
}

// Remove deletes an ended job and its files. The server refuses an unended
// job (job.ErrInvalidState) unless force, which terminates it first.
func (c *Client) Remove(ctx context.Context, id int64, force bool) error {
	q := url.Values{}
	if force {
		q.Set("force", "true")
	}
	return c.do(ctx, http.MethodDelete, "/jobs/"+strconv.FormatInt(id, 10), q, nil, nil)
}

// TaskParams filters Tasks.
type TaskParams struct {
	States []job.State
	// FromIndex is the first index to return: tasks come in index order
	// starting at the first index >= FromIndex. Zero starts at the first.
	FromIndex int
	// Limit is the page size; defaults to the server's (1000).
	Limit int
}

// Tasks returns one page of a job's tasks in index order.
func (c *Client) Tasks(ctx context.Context, id int64, p TaskParams) (*api.TaskPage, error) {
	q := url.Values{}
	for _, s := range p.States {
		q.Add("state", string(s))
	}
	q.Set("after_index", strconv.Itoa(p.FromIndex-1))
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	var page api.TaskPage
	if err := c.do(ctx, http.MethodGet, "/jobs/"+strconv.FormatInt(id, 10)+"/tasks", q, nil, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// TasksAll walks every page of a job's tasks, yielding each task. It stops
// at the first error, which it yields.
func (c *Client) TasksAll(ctx context.Context, id int64, p TaskParams) iter.Seq2[*job.Task, error] {
	return func(yield func(*job.Task, error) bool) {
		for {
			page, err := c.Tasks(ctx, id, p)
			if err != nil {
				yield(nil, err)
				return
			}
			for _, t := range page.Tasks {
				if !yield(t, nil) {
					return
				}
			}
			if page.NextAfterIndex < 0 || page.NextAfterIndex+1 <= p.FromIndex || len(page.Tasks) == 0 {
				return
			}
			p.FromIndex = page.NextAfterIndex + 1
		}
	}
}

// Task returns one task with its history: ref "7" for the task of a plain
// job, "7.3" for a task of an array.
func (c *Client) Task(ctx context.Context, ref job.Ref) (*api.TaskDetail, error) {
	var t api.TaskDetail
	if err := c.do(ctx, http.MethodGet, "/tasks/"+ref.String(), nil, nil, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// Control applies an action to a job (every task of it) or one task, and
// returns the number of tasks it changed.
func (c *Client) Control(ctx context.Context, ref job.Ref, action job.Action) (int, error) {
	return c.control(ctx, ref, action, nil)
}

// StopParams say how Stop stops tasks.
type StopParams struct {
	// Grace is the time between the first signal and SIGKILL; nil: the
	// job's stop grace, else the server's; 0: SIGKILL at once.
	Grace *time.Duration
	// Signal is sent first ("SIGINT", a name of job.StopSignals); "":
	// SIGTERM.
	Signal string
}

// Stop terminates a job (every task of it) or one task as p says, and
// returns the number of tasks it changed.
func (c *Client) Stop(ctx context.Context, ref job.Ref, p StopParams) (int, error) {
	q := url.Values{}
	if p.Grace != nil {
		q.Set("grace", p.Grace.String())
	}
	if p.Signal != "" {
		q.Set("signal", p.Signal)
	}
	return c.control(ctx, ref, job.Terminate, q)
}

func (c *Client) control(ctx context.Context, ref job.Ref, action job.Action, q url.Values) (int, error) {
	var out api.Changed
	if err := c.do(ctx, http.MethodPost, "/jobs/"+ref.String()+"/"+url.PathEscape(string(action)), q, nil, &out); err != nil {
		return 0, err
	}
	return out.Changed, nil
}
