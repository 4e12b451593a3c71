// Package browser tests the web dashboard in a real headless Chromium
// (Debian's chromium, driven with chromedp) against a real berth serve on
// TCP, and the metrics it serves. Without chromium the tests skip, unless
// BERTH_REQUIRE_DOCKER=1 (CI), where they fail.
package browser

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/internal/testenv"
	"github.com/berth-run/berth/job"
)

// chromium returns the browser's path, skipping (or failing in CI) when
// it is missing.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("BERTH_REQUIRE_DOCKER") == "1" {
		t.Fatal("chromium is not installed (BERTH_REQUIRE_DOCKER=1): run scripts/test-deps.sh")
	}
	t.Skip("chromium is not installed: run scripts/test-deps.sh")
	return ""
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// dash is a berth serve on TCP and a browser.
type dash struct {
	srv   *testenv.Server
	base  string // http://127.0.0.1:PORT
	token string
	ctx   context.Context // the browser tab
}

func startDash(t *testing.T, ctx context.Context) *dash {
	t.Helper()
	exe := chromium(t)
	addr := freeAddr(t)
	s := testenv.StartServer(t, "--listen", addr, "--slots", "4")
	tok, err := os.ReadFile(s.Dir.Token())
	require.NoError(t, err)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 900))
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelA)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	// Confirmation dialogs (stop, remove) are accepted.
	chromedp.ListenTarget(bctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go func() { _ = chromedp.Run(bctx, page.HandleJavaScriptDialog(true)) }()
		}
	})
	require.NoError(t, chromedp.Run(bctx), "starting chromium")
	return &dash{srv: s, base: "http://" + addr, token: strings.TrimSpace(string(tok)), ctx: bctx}
}

// run runs browser actions with a deadline.
func (d *dash) run(t *testing.T, timeout time.Duration, actions ...chromedp.Action) {
	t.Helper()
	ctx, cancel := context.WithTimeout(d.ctx, timeout)
	defer cancel()
	require.NoError(t, chromedp.Run(ctx, actions...))
}

// waitText waits until the element's text contains want.
func waitText(sel, want string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var got string
		for {
			err := chromedp.Run(ctx, chromedp.Text(sel, &got, chromedp.ByQuery, chromedp.NodeVisible))
			if err == nil && strings.Contains(got, want) {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %q in %s (last %q): %w", want, sel, got, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

func (d *dash) submit(t *testing.T, spec job.Spec) int64 {
	t.Helper()
	j, err := d.srv.Client().Submit(context.Background(), spec)
	require.NoError(t, err)
	return j.ID
}

func (d *dash) task(t *testing.T, ref string) *job.Task {
	t.Helper()
	r, err := job.ParseRef(ref)
	require.NoError(t, err)
	td, err := d.srv.Client().Task(context.Background(), r)
	require.NoError(t, err)
	return &td.Task
}

// screenshot saves the page under docs/screenshots when
// BERTH_UPDATE_SCREENSHOTS=1, so that normal runs change no file.
func (d *dash) screenshot(t *testing.T, name string) {
	t.Helper()
	if os.Getenv("BERTH_UPDATE_SCREENSHOTS") != "1" {
		return
	}
	var png []byte
	d.run(t, 10*time.Second, chromedp.Sleep(300*time.Millisecond), chromedp.FullScreenshot(&png, 100))
	dir := filepath.Join("..", "..", "docs", "screenshots")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
}

// TestDashboard goes through the acceptance list of the dashboard on one
// server and one browser, in order: the login comes first.
func TestDashboard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d := startDash(t, ctx)
	c := d.srv.Client()

	t.Run("refused without the token", func(t *testing.T) {
		// The API and the metrics refuse a request without it.
		for _, p := range []string{"/v1/jobs", "/metrics"} {
			resp, err := http.Get(d.base + p)
			require.NoError(t, err)
			resp.Body.Close()
			require.Equal(t, http.StatusUnauthorized, resp.StatusCode, p)
		}
		// Dashboard URLs lead to the login form.
		resp, err := http.Get(d.base + "/ui/counts")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, "/ui/login", resp.Request.URL.Path)
		// A page sends the browser to the login form; a wrong token stays there.
		var url string
		d.run(t, 20*time.Second,
			chromedp.Navigate(d.base+"/ui/"),
			chromedp.WaitVisible("#token", chromedp.ByQuery),
			chromedp.Location(&url),
			chromedp.SendKeys("#token", "not-the-token", chromedp.ByQuery),
			chromedp.Click("#login", chromedp.ByQuery),
			waitText("#login-error", "Wrong"),
		)
		require.Contains(t, url, "/ui/login")
	})

	t.Run("log in with the token", func(t *testing.T) {
		d.run(t, 20*time.Second,
			chromedp.SendKeys("#token", d.token, chromedp.ByQuery),
			chromedp.Click("#login", chromedp.ByQuery),
			chromedp.WaitVisible("#jobs", chromedp.ByQuery),
			waitText("#empty", "berth run"),
		)
		// The cookie is HttpOnly: the page's script cannot read it.
		var cookie string
		d.run(t, 5*time.Second, chromedp.Evaluate(`document.cookie`, &cookie))
		require.Empty(t, cookie)
	})

	t.Run("a submitted job appears and changes state live", func(t *testing.T) {
		id := d.submit(t, job.Spec{Name: "live", Template: job.Template{Command: "sh", Args: []string{"-c", "sleep 1"}}})
		row := fmt.Sprintf(`tr[data-job="%d"] .state`, id)
		d.run(t, 30*time.Second,
			waitText(row, "Running"),
			waitText(row, "Done"),
			waitText(`[data-count="Done"]`, "1"),
		)
	})

	t.Run("a running job's output follows, and stop cancels it", func(t *testing.T) {
		id := d.submit(t, job.Spec{Name: "ticker", Template: job.Template{Command: "sh",
			Args: []string{"-c", `i=0; while true; do echo "line $i"; i=$((i+1)); sleep 0.1; done`}}})
		d.run(t, 30*time.Second,
			chromedp.Navigate(fmt.Sprintf("%s/ui/jobs/%d", d.base, id)),
			waitText("#job-state", "Running"),
			waitText("#log", "line 3"),
			waitText("#log", "line 8"), // it keeps following
		)
		d.screenshot(t, "job")
		d.run(t, 30*time.Second,
			chromedp.Click(`button[data-action="terminate"]`, chromedp.ByQuery),
			waitText("#job-state", "Failed"),
			waitText("#task-state", "CANCELED"),
		)
		require.Equal(t, job.ReasonCanceled, d.task(t, fmt.Sprint(id)).SubState.Kind)
	})

	t.Run("hold and release a queued job", func(t *testing.T) {
		// No worker serves this pool: the job stays queued.
		id := d.submit(t, job.Spec{Name: "waiting", Pool: "nowhere", Template: job.Template{Command: "true"}})
		d.run(t, 30*time.Second,
			chromedp.Navigate(fmt.Sprintf("%s/ui/jobs/%d", d.base, id)),
			waitText("#job-state", "Queued"),
			chromedp.Click(`button[data-action="hold"]`, chromedp.ByQuery),
			waitText("#job-state", "QueuedHeld"),
		)
		require.Equal(t, job.QueuedHeld, d.task(t, fmt.Sprint(id)).State)
		d.run(t, 30*time.Second,
			chromedp.Click(`button[data-action="release"]`, chromedp.ByQuery),
			waitText("#flash", "release: 1 task(s) changed"),
		)
		require.Equal(t, job.Queued, d.task(t, fmt.Sprint(id)).State)
	})

	t.Run("a cross-site form post is refused", func(t *testing.T) {
		id := d.submit(t, job.Spec{Name: "target", Pool: "nowhere", Template: job.Template{Command: "true"}})
		// Another origin (same host, other port: the session cookie is
		// even sent, SameSite counting sites, not ports) posts a form that
		// would hold the job.
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<form id="f" method="post" action="%s/v1/jobs/%d/hold"><input name="x" value="1"></form>
<script>document.getElementById("f").submit()</script>`, d.base, id)
		}))
		defer evil.Close()
		var body string
		d.run(t, 20*time.Second,
			chromedp.Navigate(evil.URL),
			chromedp.WaitReady("body", chromedp.ByQuery),
			chromedp.ActionFunc(func(ctx context.Context) error {
				for {
					var loc string
					if err := chromedp.Run(ctx, chromedp.Location(&loc)); err == nil && strings.HasPrefix(loc, d.base) {
						return chromedp.Run(ctx, chromedp.Text("body", &body, chromedp.ByQuery))
					}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(50 * time.Millisecond):
					}
				}
			}),
		)
		// Refused by the CSRF check (the cookie is sent: SameSite counts
		// sites, not ports), or for want of a session when run alone.
		require.Regexp(t, "forbidden|unauthorized", body)
		require.Equal(t, job.Queued, d.task(t, fmt.Sprint(id)).State)
	})

	t.Run("an array of 10,000 tasks shows its grid within 2s", func(t *testing.T) {
		id := d.submit(t, job.Spec{Name: "big", Hold: true, Template: job.Template{Command: "true"},
			Array: &job.Array{Begin: 1, End: 10000, Step: 1}})
		start := time.Now()
		d.run(t, 30*time.Second,
			chromedp.Navigate(fmt.Sprintf("%s/ui/jobs/%d", d.base, id)),
			chromedp.WaitVisible(`#grid[data-ready="10000"]`, chromedp.ByQuery),
		)
		took := time.Since(start)
		t.Logf("grid of 10,000 tasks drawn in %s", took)
		require.Less(t, took, 2*time.Second)
		d.run(t, 10*time.Second, waitText("#legend", "QueuedHeld 10000"), waitText(`dd[data-field="Tasks"]`, "0/10000 done"))
		// Released tasks run, and the grid and the Tasks field follow them live.
		for i := 1; i <= 60; i++ {
			_, err := c.Control(context.Background(), job.Ref{Job: id, Index: i, HasIndex: true}, job.Release)
			require.NoError(t, err)
		}
		d.run(t, 30*time.Second, waitText("#legend", "Done 60"), waitText("#legend", "QueuedHeld 9940"),
			waitText(`dd[data-field="Tasks"]`, "60/10000 done"))
		d.screenshot(t, "array")
	})

	t.Run("jobs and workers pages", func(t *testing.T) {
		d.run(t, 20*time.Second,
			chromedp.Navigate(d.base+"/ui/"),
			chromedp.WaitVisible("#jobs", chromedp.ByQuery),
			waitText(`[data-count="total"]`, "5"),
		)
		d.screenshot(t, "jobs")
		d.run(t, 20*time.Second,
			chromedp.Navigate(d.base+"/ui/workers"),
			waitText("#workers", "default"),
		)
		d.screenshot(t, "workers")
	})

	t.Run("berth ui logs a browser in once", func(t *testing.T) {
		r := d.srv.Berth("", "ui")
		require.Equal(t, 0, r.Code, r.Stderr)
		link := strings.TrimSpace(r.Stdout)
		require.True(t, strings.HasPrefix(link, d.base+"/ui/login?code="), link)
		// Forget the earlier login.
		var loc string
		d.run(t, 20*time.Second,
			network.ClearBrowserCookies(),
			chromedp.Navigate(d.base+"/ui/"),
			chromedp.WaitVisible("#token", chromedp.ByQuery),
			chromedp.Navigate(link),
			chromedp.WaitVisible("#jobs", chromedp.ByQuery),
			chromedp.Location(&loc),
		)
		require.Equal(t, d.base+"/ui/", loc)
		// The code is spent: used again, it gets the login form.
		d.run(t, 20*time.Second,
			network.ClearBrowserCookies(),
			chromedp.Navigate(link),
			waitText("#login-error", "Wrong or expired"),
		)
	})

	// The session is only in the cookie: the same URL, from a client
	// without it, is refused.
	_, err := c.Workers(context.Background())
	require.NoError(t, err)
	resp, err := http.Get(d.base + "/ui/workers")
	require.NoError(t, err)
	resp.Body.Close()
	require.Contains(t, resp.Request.URL.Path, "/ui/login")
	require.False(t, errors.Is(ctx.Err(), context.DeadlineExceeded))
}

// TestUINeedsTCP: without a TCP listener, berth ui says what to do.
func TestUINeedsTCP(t *testing.T) {
	s := testenv.StartServer(t)
	r := s.Berth("", "ui")
	require.NotEqual(t, 0, r.Code)
	require.Contains(t, r.Stderr, "berth serve --listen 127.0.0.1:8080")
}
