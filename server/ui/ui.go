// Package ui is berth's web dashboard: server-rendered pages (jobs, a job,
// workers) with a little plain JavaScript that follows the server's
// changes, as digests shared by all pages (live.go), so nothing needs a
// reload. Templates and assets are embedded in the binary.
//
// The pages read the store and the scheduler directly; every change (stop,
// hold, remove...) goes through the API, from the page's script. Over TCP
// the server wraps everything in Logins.Require: a session cookie set by
// the login form or a one-time code, and a CSRF token on changes.
package ui

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/cli/display"
	"github.com/berth-run/berth/job"
	"github.com/berth-run/berth/scheduler"
	"github.com/berth-run/berth/store"
)

//go:embed assets
var assets embed.FS

// Scheduler is what the pages read of the scheduler.
type Scheduler interface {
	Workers() []dispatch.WorkerStatus
	Stats() []scheduler.PoolStats
	// JobTasks counts an unended job's tasks by state; false for others.
	JobTasks(id int64) (map[job.State]int, bool)
	// Subscribe returns a channel of every event from now on, closed if
	// the subscriber falls more than buf behind, and a func ending it.
	Subscribe(buf int) (<-chan job.Event, func())
}

// Config configures New.
type Config struct {
	Store     *store.Store // required
	Scheduler Scheduler    // required
	Version   string
	Logger    *slog.Logger
}

// UI serves the dashboard. Create it with New.
type UI struct {
	cfg    Config
	log    *slog.Logger
	static http.Handler

	rows rowCache
	// hub makes the digests the pages follow (live.go).
	hub live

	countsMu  sync.Mutex
	live      map[job.State]int // unended jobs, from the scheduler
	liveAt    time.Time
	ended     [2]int // ended, failed: a scan of the store
	countsAt  time.Time
	endedTook time.Duration
}

// New returns the dashboard.
func New(cfg Config) (*UI, error) {
	if cfg.Store == nil || cfg.Scheduler == nil {
		return nil, errors.New("ui config: Store and Scheduler are required")
	}
	sub, err := fs.Sub(assets, "assets/static")
	if err != nil {
		return nil, err
	}
	u := &UI{cfg: cfg, log: cmp.Or(cfg.Logger, slog.Default()),
		static: http.StripPrefix("/ui/static/", http.FileServerFS(sub))}
	u.hub.u = u
	return u, nil
}

// Route is one endpoint of the dashboard.
type Route struct {
	Method, Path string
	Handler      http.HandlerFunc
}

// Routes lists the dashboard's endpoints, for the server's mux.
func (u *UI) Routes() []Route {
	return []Route{
		{"GET", "/{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ui/", http.StatusSeeOther) }},
		{"GET", "/ui/{$}", u.jobsPage},
		{"GET", "/ui/jobs/{id}", u.jobPage},
		{"GET", "/ui/rows", u.jobRows},
		{"GET", "/ui/jobs/{id}/grid", u.grid},
		{"GET", "/ui/counts", u.counts},
		{"GET", "/ui/workers", u.workersPage},
		// On the socket no login is needed; on TCP Logins.Require answers
		// these before they get here.
		{"GET", "/ui/login", u.noLogin},
		{"POST", "/ui/login", u.noLogin},
		{"GET", "/ui/static/{file...}", u.serveStatic},
	}
}

func (u *UI) noLogin(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, "/ui/", http.StatusSeeOther)
}

func (u *UI) serveStatic(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "max-age=300")
	u.static.ServeHTTP(w, r)
}

// page is what every page template gets.
type page struct {
	Title   string
	Nav     string
	Version string
	CSRF    string
	Error   string
	Data    any
}

func (u *UI) render(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, data any) {
	p := page{Title: title, Nav: nav, Version: u.cfg.Version, CSRF: CSRF(r), Data: data}
	var b strings.Builder
	if err := templates.ExecuteTemplate(&b, name, p); err != nil {
		u.log.ErrorContext(r.Context(), "rendering a dashboard page", "page", name, "err", err)
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = fmt.Fprint(w, b.String())
}

func (u *UI) fail(w http.ResponseWriter, r *http.Request, status int, err error) {
	u.render(w, r, status, "error", "Error", "", err.Error())
}

// jobsPageSize is the jobs shown per page: the rest is paged, never loaded.
const jobsPageSize = 50

type jobsData struct {
	Jobs    []*job.Job
	Filter  filter
	Next    string // query of the next (older) page; empty on the last
	First   string // query of the first page; empty on it
	Empty   bool   // no job at all: the first-time user's page
	States  []job.State
	Counts  map[job.State]int
	Total   int
	Now     time.Time
	IsFirst bool
}

// filter is the jobs page's query, the filters of berth ls.
type filter struct {
	States []string
	Name   string
	Labels []string
	Pool   string
	Since  string
}

func (f filter) query() url.Values {
	q := url.Values{}
	if len(f.States) > 0 {
		q.Set("state", strings.Join(f.States, ","))
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("name", f.Name)
	set("pool", f.Pool)
	set("since", f.Since)
	for _, l := range f.Labels {
		q.Add("label", l)
	}
	return q
}

func (f filter) Active() bool {
	return len(f.States) > 0 || f.Name != "" || len(f.Labels) > 0 || f.Pool != "" || f.Since != ""
}

func (f filter) HasState(s job.State) bool { return slices.Contains(f.States, string(s)) }

// params turns the query into store parameters; errors name the field.
func parseFilter(r *http.Request) (filter, store.JobListParams, error) {
	q := r.URL.Query()
	var f filter
	var p store.JobListParams
	for _, v := range q["state"] {
		for s := range strings.SplitSeq(v, ",") {
			if s = strings.TrimSpace(s); s == "" {
				continue
			}
			st, err := job.ParseState(s)
			if err != nil {
				return f, p, fmt.Errorf("state: %w", err)
			}
			f.States = append(f.States, string(st))
			p.States = append(p.States, st)
		}
	}
	f.Name = strings.TrimSpace(q.Get("name"))
	if f.Name != "" {
		if _, err := path.Match(f.Name, ""); err != nil {
			return f, p, fmt.Errorf("name: invalid glob %q: %v", f.Name, err)
		}
		p.NameGlob = f.Name
	}
	for _, kv := range q["label"] {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, err := job.ParseKV(kv)
		if err != nil {
			return f, p, fmt.Errorf("label: %w", err)
		}
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		p.Labels[k] = v
		f.Labels = append(f.Labels, kv)
	}
	f.Pool = strings.TrimSpace(q.Get("pool"))
	if f.Since = strings.TrimSpace(q.Get("since")); f.Since != "" {
		if t, err := time.Parse(time.RFC3339, f.Since); err == nil {
			p.Since = t
		} else if d, err := job.ParseDuration(f.Since); err == nil {
			p.Since = time.Now().Add(-d.Std())
		} else {
			return f, p, fmt.Errorf("since: invalid %q: want an RFC 3339 time or a duration ago (1h, 2d)", f.Since)
		}
	}
	return f, p, nil
}

func (u *UI) jobsPage(w http.ResponseWriter, r *http.Request) {
	f, p, err := parseFilter(r)
	if err != nil {
		u.fail(w, r, http.StatusBadRequest, err)
		return
	}
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	p.Limit = jobsPageSize + 1
	jobs, err := u.cfg.Store.JobListNewest(r.Context(), &p, f.Pool, before)
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	d := jobsData{Filter: f, States: job.States[1:], Now: time.Now(), IsFirst: before == 0}
	if len(jobs) > jobsPageSize {
		jobs = jobs[:jobsPageSize]
		q := f.query()
		q.Set("before", strconv.FormatInt(jobs[len(jobs)-1].ID, 10))
		d.Next = "?" + q.Encode()
	}
	if before > 0 {
		d.First = "?" + f.query().Encode()
	}
	d.Jobs = jobs
	d.Counts, d.Total = u.jobCounts(r.Context())
	d.Empty = len(jobs) == 0 && !f.Active() && before == 0
	u.render(w, r, http.StatusOK, "jobs", "Jobs", "jobs", d)
}

// jobCounts counts jobs by state: the unended from the scheduler's memory,
// the ended from the store. All dashboards share one count a moment old:
// the scheduler's at most every countsTTL, the store's (a scan of the
// ended jobs) less often as it grows, so that it never takes more than a
// fiftieth of the time.
func (u *UI) jobCounts(ctx context.Context) (map[job.State]int, int) {
	c, total, _ := u.jobCountsAt(ctx)
	return c, total
}

// jobCountsAt is jobCounts and the time of the older of its two parts.
func (u *UI) jobCountsAt(ctx context.Context) (map[job.State]int, int, time.Time) {
	u.countsMu.Lock()
	defer u.countsMu.Unlock()
	now := time.Now()
	if now.Sub(u.liveAt) >= countsTTL || u.live == nil {
		u.live = map[job.State]int{}
		for _, ps := range u.cfg.Scheduler.Stats() {
			for st, n := range ps.Jobs {
				u.live[st] += n
			}
		}
		u.liveAt = now
	}
	if now.Sub(u.countsAt) >= max(countsTTL, 50*u.endedTook) {
		if ended, failed, err := u.cfg.Store.EndedJobCounts(ctx); err == nil {
			u.ended = [2]int{ended, failed}
			u.countsAt, u.endedTook = now, time.Since(now)
		}
	}
	counts := maps.Clone(u.live)
	counts[job.Done] = u.ended[0] - u.ended[1]
	counts[job.Failed] = u.ended[1]
	total := 0
	for _, n := range counts {
		total += n
	}
	asOf := u.liveAt
	if u.countsAt.Before(asOf) {
		asOf = u.countsAt
	}
	return counts, total, asOf
}

// countsTTL is how long the dashboards share a count of jobs by state.
const countsTTL = time.Second

func (u *UI) counts(w http.ResponseWriter, r *http.Request) {
	c, total := u.jobCounts(r.Context())
	out := map[string]int{"total": total}
	for st, n := range c {
		out[string(st)] = n
	}
	writeJSON(w, out)
}

// rowsMax bounds the rows one /ui/rows request asks for: a page.
const rowsMax = 100

// jobRows answers the jobs table's rows of the jobs named (id=, repeated),
// newest first; removed jobs are left out. The page asks for the jobs that
// appeared or ended, once a second.
func (u *UI) jobRows(w http.ResponseWriter, r *http.Request) {
	var ids []int64
	for _, v := range r.URL.Query()["id"] {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id < 1 {
			http.Error(w, fmt.Sprintf("id: %q is not a job ID", v), http.StatusBadRequest)
			return
		}
		ids = append(ids, id)
	}
	if len(ids) > rowsMax {
		http.Error(w, fmt.Sprintf("id: at most %d at once", rowsMax), http.StatusBadRequest)
		return
	}
	rows, err := u.renderRows(r.Context(), ids, time.Now(), false)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	slices.Sort(ids)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	for i := len(ids) - 1; i >= 0; i-- {
		if i+1 < len(ids) && ids[i] == ids[i+1] {
			continue
		}
		_, _ = io.WriteString(w, rows[ids[i]])
	}
}

// renderRows renders the jobs table's rows of ids (removed jobs left out),
// from the cache where it can unless fresh.
func (u *UI) renderRows(ctx context.Context, ids []int64, now time.Time, fresh bool) (map[int64]string, error) {
	rows, missing := map[int64]string{}, ids
	if !fresh {
		rows, missing = u.rows.get(ids, now)
	}
	if len(missing) == 0 {
		return rows, nil
	}
	jobs, err := u.cfg.Store.JobList(ctx, &store.JobListParams{IDs: missing, Limit: len(missing)})
	if err != nil {
		return nil, err
	}
	for _, j := range jobs {
		var b strings.Builder
		if err := templates.ExecuteTemplate(&b, "jobrow", rowData{Job: j, Now: now}); err != nil {
			return nil, fmt.Errorf("rendering a job row: %w", err)
		}
		rows[j.ID] = b.String()
		u.rows.put(j.ID, b.String(), j.State.Terminal(), now)
	}
	return rows, nil
}

// rowCache keeps rendered rows a moment: the dashboards watching a server
// ask for the same new jobs' rows at about the same time. An ended job's
// row changes no more (but for its relative times) and is kept longer.
type rowCache struct {
	mu sync.Mutex
	m  map[int64]rowEntry
}

type rowEntry struct {
	html  string
	until time.Time
}

const (
	rowTTL      = time.Second
	rowEndedTTL = 10 * time.Second
	rowCacheMax = 4096
)

// get returns the cached rows of ids and the IDs not cached.
func (c *rowCache) get(ids []int64, now time.Time) (map[int64]string, []int64) {
	out := make(map[int64]string, len(ids))
	var missing []int64
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range ids {
		if e, ok := c.m[id]; ok && now.Before(e.until) {
			out[id] = e.html
		} else {
			missing = append(missing, id)
		}
	}
	return out, missing
}

func (c *rowCache) put(id int64, html string, ended bool, now time.Time) {
	ttl := rowTTL
	if ended {
		ttl = rowEndedTTL
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= rowCacheMax {
		c.m = make(map[int64]rowEntry)
	}
	c.m[id] = rowEntry{html: html, until: now.Add(ttl)}
}

type rowData struct {
	Job *job.Job
	Now time.Time
}

type jobData struct {
	Job     *job.Job
	Task    *job.Task // the plain job's task, or the array task asked for
	History []store.Transition
	Fields  []display.Field
	Grid    bool
	Now     time.Time
	// Steps are the jobs of an OpenJD job's steps, which it has instead
	// of tasks.
	Steps []*job.Job
}

func (u *UI) jobPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		u.fail(w, r, http.StatusBadRequest, fmt.Errorf("id: %q is not a job ID", r.PathValue("id")))
		return
	}
	j, err := u.cfg.Store.JobGet(r.Context(), id)
	if errors.Is(err, job.ErrNotFound) {
		u.fail(w, r, http.StatusNotFound, fmt.Errorf("no job %d: it may have been removed", id))
		return
	}
	if err != nil {
		u.fail(w, r, http.StatusInternalServerError, err)
		return
	}
	d := jobData{Job: j, Fields: jobFields(j), Grid: j.TaskCount > 1 || j.IsArray(), Now: time.Now()}
	if j.HasSteps() {
		d.Grid = false
		if len(j.Steps) > 0 {
			if d.Steps, err = u.cfg.Store.JobList(r.Context(), &store.JobListParams{IDs: j.Steps}); err != nil {
				u.fail(w, r, http.StatusInternalServerError, err)
				return
			}
		}
		u.render(w, r, http.StatusOK, "job", fmt.Sprintf("Job %d", id), "jobs", d)
		return
	}
	index := 0
	if v := r.URL.Query().Get("task"); v != "" {
		if index, err = strconv.Atoi(v); err != nil {
			u.fail(w, r, http.StatusBadRequest, fmt.Errorf("task: %q is not a task index", v))
			return
		}
	}
	if !d.Grid || r.URL.Query().Has("task") {
		t, err := u.cfg.Store.TaskGet(r.Context(), id, index)
		if err != nil {
			u.fail(w, r, http.StatusNotFound, err)
			return
		}
		d.Task = t
		if d.History, err = u.cfg.Store.TaskHistory(r.Context(), id, index); err != nil {
			u.fail(w, r, http.StatusInternalServerError, err)
			return
		}
	}
	u.render(w, r, http.StatusOK, "job", fmt.Sprintf("Job %d", id), "jobs", d)
}

// grid answers the states of every task of a job, compactly: the indexes
// and one letter per task (see stateLetter), for the page's canvas.
func (u *UI) grid(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.Error(w, "id: not a job ID", http.StatusBadRequest)
		return
	}
	var idx []int
	var states []byte
	err = u.cfg.Store.TaskStates(r.Context(), id, func(i int, st job.State) {
		idx = append(idx, i)
		states = append(states, stateLetter[st])
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if idx == nil {
		idx = []int{}
	}
	writeJSON(w, map[string]any{"index": idx, "states": string(states)})
}

// stateLetter codes states in the grid's answer; app.js decodes them.
var stateLetter = map[job.State]byte{job.Undetermined: 'U', job.Queued: 'Q', job.QueuedHeld: 'H', job.Running: 'R',
	job.Suspended: 'S', job.Requeued: 'q', job.RequeuedHeld: 'h', job.Done: 'D', job.Failed: 'F'}

type workersData struct {
	Workers []dispatch.WorkerStatus
	Pools   []scheduler.PoolStats
	Now     time.Time
}

func (u *UI) workersPage(w http.ResponseWriter, r *http.Request) {
	ws := u.cfg.Scheduler.Workers()
	slices.SortFunc(ws, func(a, b dispatch.WorkerStatus) int {
		return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.Worker, b.Worker))
	})
	pools := u.cfg.Scheduler.Stats()
	slices.SortFunc(pools, func(a, b scheduler.PoolStats) int { return cmp.Compare(a.Pool, b.Pool) })
	u.render(w, r, http.StatusOK, "workers", "Workers", "workers", workersData{Workers: ws, Pools: pools, Now: time.Now()})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}
