package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"

	"github.com/berth-run/berth/internal/datadir"
)

// EnsureToken returns the bearer token of the TCP API, creating the token
// file (32 random bytes in hex, mode 0600) on first use.
func EnsureToken(dir datadir.Dir) (string, error) {
	path := dir.Token()
	tok, err := readToken(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	if err := dir.Ensure(); err != nil {
		return "", err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	tok = hex.EncodeToString(b)
	// Write a temporary file and link it into place, so that two servers
	// starting at once agree on one token and none reads a partial file.
	tmp, err := os.CreateTemp(string(dir), ".token-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.WriteString(tok + "\n"); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readToken(path)
		}
		return "", fmt.Errorf("creating the token file: %w", err)
	}
	return tok, nil
}

func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("token file %s is open to others (mode %04o): chmod 600 it", path, fi.Mode().Perm())
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return "", fmt.Errorf("reading the token file %s: %w", path, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty: remove it to make a new token", path)
	}
	return tok, nil
}

// requireToken lets through requests that carry the bearer token.
func (s *Server) requireToken(token string, h http.Handler) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			s.unauthorized(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// unauthorized answers a TCP request without the token (or a session).
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="berth"`)
	s.writeError(w, r, &apiError{Status: http.StatusUnauthorized, Code: codeUnauthorized,
		Message: "missing or wrong token: send Authorization: Bearer <the content of $BERTH_HOME/token> (the dashboard: log in at /ui/login)"}, noRef)
}
