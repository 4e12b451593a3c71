package ui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SessionCookie is the name of the dashboard's session cookie on TCP.
const SessionCookie = "berth_session"

// CSRFHeader carries the CSRF token of a session on state-changing
// requests authenticated by the cookie. A cross-site form cannot set it.
const CSRFHeader = "X-Berth-CSRF"

// Lifetimes of a session and of a one-time login code.
const (
	sessionTTL = 7 * 24 * time.Hour
	codeTTL    = 2 * time.Minute
)

// Logins authenticates the TCP listener: the bearer token of the API, or a
// session cookie. A session is a random nonce and an expiry signed with an
// HMAC keyed by the token: the server keeps no session state, the token
// never reaches the browser, and a new token ends every session. One-time
// login codes (berth ui) are kept in memory.
type Logins struct {
	mu    sync.Mutex
	codes map[string]time.Time
	now   func() time.Time
}

// NewLogins returns a Logins with no codes.
func NewLogins() *Logins {
	return &Logins{codes: map[string]time.Time{}, now: time.Now}
}

// NewCode returns a one-time login code, valid for a short while.
func (l *Logins) NewCode() string {
	code := randomHex(16)
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for c, exp := range l.codes {
		if now.After(exp) {
			delete(l.codes, c)
		}
	}
	l.codes[code] = now.Add(codeTTL)
	return code
}

// useCode reports whether code is valid, and spends it.
func (l *Logins) useCode(code string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	exp, ok := l.codes[code]
	delete(l.codes, code)
	return ok && !l.now().After(exp)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func mac(token, msg string) string {
	h := hmac.New(sha256.New, []byte(token))
	h.Write([]byte(msg))
	return hex.EncodeToString(h.Sum(nil))
}

// newSession returns a cookie value: expiry, nonce, signature.
func newSession(token string, now time.Time) string {
	v := strconv.FormatInt(now.Add(sessionTTL).Unix(), 10) + "." + randomHex(16)
	return v + "." + mac(token, "session|"+v)
}

// checkSession returns the session's nonce if value is a valid, unexpired
// session of token.
func checkSession(token, value string, now time.Time) (string, bool) {
	exp, rest, ok := strings.Cut(value, ".")
	if !ok {
		return "", false
	}
	nonce, sig, ok := strings.Cut(rest, ".")
	if !ok {
		return "", false
	}
	if !hmac.Equal([]byte(sig), []byte(mac(token, "session|"+exp+"."+nonce))) {
		return "", false
	}
	t, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() > t {
		return "", false
	}
	return nonce, true
}

func csrfToken(token, nonce string) string { return mac(token, "csrf|"+nonce)[:32] }

type csrfKey struct{}

// CSRF returns the CSRF token pages put in their state-changing requests;
// empty when the request came without a session (the unix socket, or the
// bearer token).
func CSRF(r *http.Request) string {
	s, _ := r.Context().Value(csrfKey{}).(string)
	return s
}

// Open reports whether path is reachable without authentication: the login
// page and the static assets.
func open(path string) bool {
	return path == "/ui/login" || strings.HasPrefix(path, "/ui/static/")
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// Require lets through requests with the bearer token or a valid session;
// a state-changing request on a session also needs its CSRF token in
// CSRFHeader (or a csrf form field). Without either, dashboard pages
// redirect to the login form; everything else gets refused(w, r).
func (l *Logins) Require(token string, refused http.HandlerFunc, h http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) == 1 {
			h.ServeHTTP(w, r)
			return
		}
		if r.URL.Path == "/ui/login" {
			l.login(token, w, r)
			return
		}
		if open(r.URL.Path) && safeMethod(r.Method) {
			h.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(SessionCookie); err == nil {
			if nonce, ok := checkSession(token, c.Value, l.now()); ok {
				csrf := csrfToken(token, nonce)
				if !safeMethod(r.Method) {
					got := r.Header.Get(CSRFHeader)
					if got == "" {
						got = r.PostFormValue("csrf")
					}
					if !hmac.Equal([]byte(got), []byte(csrf)) || !sameOrigin(r) {
						http.Error(w, "forbidden: a state-changing request needs the page's CSRF token and the same origin", http.StatusForbidden)
						return
					}
				}
				h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), csrfKey{}, csrf)))
				return
			}
		}
		if safeMethod(r.Method) && (r.URL.Path == "/" || strings.HasPrefix(r.URL.Path, "/ui/")) {
			http.Redirect(w, r, "/ui/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		refused(w, r)
	})
}

// sameOrigin refuses a request whose Origin (sent by browsers on POST) is
// another site. Requests without one (not from a browser) pass: they have
// the CSRF token.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

// login serves /ui/login: the form (GET), the token posted by it, or a
// one-time code (GET ?code=) from berth ui; success sets the session
// cookie and redirects to next.
func (l *Logins) login(token string, w http.ResponseWriter, r *http.Request) {
	next := r.FormValue("next")
	if !strings.HasPrefix(next, "/ui/") {
		next = "/ui/"
	}
	ok := false
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Get("code") != "":
		ok = l.useCode(r.URL.Query().Get("code"))
	case r.Method == http.MethodPost:
		// A login form posted from another site is refused too: it could
		// log a victim into the attacker's server.
		ok = sameOrigin(r) && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(r.PostFormValue("token"))), []byte(token)) == 1
	case r.Method == http.MethodGet:
		renderLogin(w, next, "", http.StatusOK)
		return
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !ok {
		renderLogin(w, next, "Wrong or expired token or code.", http.StatusUnauthorized)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: newSession(token, l.now()), Path: "/",
		MaxAge: int(sessionTTL / time.Second), HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func renderLogin(w http.ResponseWriter, next, msg string, status int) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = templates.ExecuteTemplate(w, "login", struct{ Next, Error string }{next, msg})
}
