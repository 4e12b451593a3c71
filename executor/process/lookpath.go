package process

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// pathTTL is how long a PATH lookup is reused. A lookup stats every PATH
// entry up to the match, which for a short task costs as much as its fork;
// reusing it for a second, as shells hash commands, is invisible to anyone
// but one who installs a new program earlier in PATH and runs it within
// that second.
const pathTTL = time.Second

// pathCache remembers PATH lookups, keyed by PATH and command.
type pathCache struct {
	mu sync.Mutex
	m  map[string]pathEntry
}

type pathEntry struct {
	path string
	at   time.Time
}

// maxPathEntries bounds the cache; it is emptied when full.
const maxPathEntries = 256

// lookPath is the package's lookPath, reusing a lookup of a command without
// a slash for pathTTL. cached says the answer came from the cache, so that a
// caller whose exec then fails can drop it (forget) and look again.
func (c *pathCache) lookPath(command, dir string, env []string) (path string, cached bool, err error) {
	if command == "" || strings.Contains(command, "/") {
		path, err = lookPath(command, dir, env)
		return path, false, err
	}
	key := searchPath(env) + "\x00" + command
	now := time.Now()
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < pathTTL {
		return e.path, true, nil
	}
	path, err = lookPath(command, dir, env)
	if err != nil {
		return "", false, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxPathEntries {
		c.m = make(map[string]pathEntry)
	}
	c.m[key] = pathEntry{path: path, at: now}
	c.mu.Unlock()
	return path, false, nil
}

// forget drops every cached lookup.
func (c *pathCache) forget() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

// lookPath finds the executable for command. Names with a slash are used as
// they are (relative to dir); others are looked up in the PATH of env, or the
// executor's own. Relative PATH entries are skipped, as os/exec refuses them.
func lookPath(command, dir string, env []string) (string, error) {
	if command == "" {
		return "", &exec.Error{Name: command, Err: errors.New("empty command")}
	}
	if strings.Contains(command, "/") {
		p := command
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := executable(p); err != nil {
			return "", &exec.Error{Name: command, Err: err}
		}
		return p, nil
	}
	for _, d := range filepath.SplitList(searchPath(env)) {
		if !filepath.IsAbs(d) {
			continue
		}
		p := filepath.Join(d, command)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", &exec.Error{Name: command, Err: exec.ErrNotFound}
}

func executable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	if err := unix.Access(path, unix.X_OK); err != nil {
		return &fs.PathError{Op: "exec", Path: path, Err: err}
	}
	return nil
}

// searchPath is the PATH a command is looked up in: env's, else the
// executor's own.
func searchPath(env []string) string {
	if p, ok := getenv(env, "PATH"); ok {
		return p
	}
	return os.Getenv("PATH")
}

// getenv returns the last value of key in env, as the C library would.
func getenv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}
