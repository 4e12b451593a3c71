package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const testToken = "s3cret"

func TestSession(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_000_000, 0)
	v := newSession(testToken, now)
	require.NotContains(t, v, testToken)
	nonce, ok := checkSession(testToken, v, now)
	require.True(t, ok)
	require.NotEmpty(t, nonce)

	_, ok = checkSession("other-token", v, now)
	require.False(t, ok, "a new token ends the session")
	_, ok = checkSession(testToken, v, now.Add(sessionTTL+time.Second))
	require.False(t, ok, "expired")
	for _, bad := range []string{"", "x", "1.2", v + "0", "9" + v, strings.Replace(v, ".", "..", 1)} {
		_, ok = checkSession(testToken, bad, now)
		require.False(t, ok, bad)
	}
	require.NotEqual(t, csrfToken(testToken, "a"), csrfToken(testToken, "b"))
}

func TestCodes(t *testing.T) {
	t.Parallel()
	l := NewLogins()
	now := time.Unix(1_000_000, 0)
	l.now = func() time.Time { return now }
	c := l.NewCode()
	require.True(t, l.useCode(c))
	require.False(t, l.useCode(c), "one use only")
	c = l.NewCode()
	now = now.Add(codeTTL + time.Second)
	require.False(t, l.useCode(c), "expired")
	require.False(t, l.useCode(""))
}

// authed returns a handler behind Require that answers 200 "ok" with the
// request's CSRF token.
func authed(l *Logins) http.Handler {
	return l.Require(testToken, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok " + CSRF(r)))
	}))
}

func serve(h http.Handler, method, target string, body url.Values, hdr map[string]string, cookie *http.Cookie) *httptest.ResponseRecorder {
	var req *http.Request
	if body != nil {
		req = httptest.NewRequest(method, target, strings.NewReader(body.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req = httptest.NewRequest(method, target, nil)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRequire(t *testing.T) {
	t.Parallel()
	l := NewLogins()
	h := authed(l)

	// The bearer token passes; nothing else without a session.
	rec := serve(h, "POST", "/v1/jobs/1/hold", nil, map[string]string{"Authorization": "Bearer " + testToken}, nil)
	require.Equal(t, 200, rec.Code)
	rec = serve(h, "POST", "/v1/jobs/1/hold", nil, nil, nil)
	require.Equal(t, 401, rec.Code)
	rec = serve(h, "GET", "/ui/jobs/1", nil, nil, nil)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	require.Equal(t, "/ui/login?next=%2Fui%2Fjobs%2F1", rec.Header().Get("Location"))
	rec = serve(h, "GET", "/ui/static/app.js", nil, nil, nil)
	require.Equal(t, 200, rec.Code, "assets are open")

	// The login form, a wrong token, the right one.
	rec = serve(h, "GET", "/ui/login", nil, nil, nil)
	require.Equal(t, 200, rec.Code)
	require.Contains(t, rec.Body.String(), `name="token"`)
	rec = serve(h, "POST", "/ui/login", url.Values{"token": {"nope"}}, nil, nil)
	require.Equal(t, 401, rec.Code)
	require.Empty(t, rec.Result().Cookies())
	rec = serve(h, "POST", "/ui/login", url.Values{"token": {testToken}}, map[string]string{"Origin": "http://evil.example"}, nil)
	require.Equal(t, 401, rec.Code, "a login posted from another site")
	rec = serve(h, "POST", "/ui/login", url.Values{"token": {testToken}, "next": {"/ui/workers"}}, map[string]string{"Origin": "http://example.com"}, nil)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	require.Equal(t, "/ui/workers", rec.Header().Get("Location"))
	cookies := rec.Result().Cookies()
	require.Len(t, cookies, 1)
	c := cookies[0]
	require.Equal(t, SessionCookie, c.Name)
	require.True(t, c.HttpOnly)
	require.Equal(t, http.SameSiteStrictMode, c.SameSite)
	require.NotContains(t, c.Value, testToken)

	// next= is only a dashboard path: no open redirect.
	rec = serve(h, "POST", "/ui/login", url.Values{"token": {testToken}, "next": {"https://evil.example/"}}, nil, nil)
	require.Equal(t, "/ui/", rec.Header().Get("Location"))

	// With the cookie: reads pass and carry the CSRF token; changes need it.
	rec = serve(h, "GET", "/ui/", nil, nil, c)
	require.Equal(t, 200, rec.Code)
	csrf := strings.TrimPrefix(rec.Body.String(), "ok ")
	require.Len(t, csrf, 32)
	rec = serve(h, "POST", "/v1/jobs/1/hold", nil, nil, c)
	require.Equal(t, 403, rec.Code, "no CSRF token")
	rec = serve(h, "POST", "/v1/jobs/1/hold", url.Values{"x": {"1"}}, nil, c)
	require.Equal(t, 403, rec.Code, "a form without the token")
	wrong := "0" + csrf[1:]
	if csrf[0] == '0' {
		wrong = "1" + csrf[1:]
	}
	rec = serve(h, "POST", "/v1/jobs/1/hold", nil, map[string]string{CSRFHeader: wrong}, c)
	require.Equal(t, 403, rec.Code, "a wrong token")
	rec = serve(h, "POST", "/v1/jobs/1/hold", nil, map[string]string{CSRFHeader: csrf, "Origin": "http://evil.example"}, c)
	require.Equal(t, 403, rec.Code, "another origin")
	rec = serve(h, "POST", "/v1/jobs/1/hold", nil, map[string]string{CSRFHeader: csrf, "Origin": "http://example.com"}, c)
	require.Equal(t, 200, rec.Code)
	rec = serve(h, "DELETE", "/v1/jobs/1", nil, map[string]string{CSRFHeader: csrf}, c)
	require.Equal(t, 200, rec.Code)

	// A one-time code logs in once.
	code := l.NewCode()
	rec = serve(h, "GET", "/ui/login?code="+code, nil, nil, nil)
	require.Equal(t, http.StatusSeeOther, rec.Code)
	require.Len(t, rec.Result().Cookies(), 1)
	rec = serve(h, "GET", "/ui/login?code="+code, nil, nil, nil)
	require.Equal(t, 401, rec.Code)
}
