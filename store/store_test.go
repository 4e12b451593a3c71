package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/berth-run/berth/job"
)

// t0 is a submit time with nanoseconds, to check they survive.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func setup(t testing.TB) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "berth.db"))
}

func openAt(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func insert(t testing.TB, s *Store, spec job.Spec) int64 {
	t.Helper()
	id, err := s.JobInsert(context.Background(), &JobInsertParams{
		Spec: spec.WithDefaults(), SubmittedAt: t0, State: job.Queued,
	})
	if err != nil {
		t.Fatalf("JobInsert: %v", err)
	}
	return id
}

func plain(name string) job.Spec {
	return job.Spec{Name: name, Template: job.Template{Command: "true"}}
}

func array(name string, begin, end, step int) job.Spec {
	s := plain(name)
	s.Array = &job.Array{Begin: begin, End: end, Step: step}
	return s
}

func wantNotFound(t *testing.T, err error, msg string) {
	t.Helper()
	if !errors.Is(err, job.ErrNotFound) {
		t.Fatalf("err = %v, want job.ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), msg) {
		t.Fatalf("err = %q, want it to contain %q", err, msg)
	}
}

func pragma(t *testing.T, s *Store, name string) string {
	t.Helper()
	var v string
	if err := s.w.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenConfig(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "Path"},
		{Config{Path: "x.db", Sync: "off"}, "Sync"},
	} {
		if _, err := Open(ctx, tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%+v) = %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}

	s := setup(t)
	for name, want := range map[string]string{"journal_mode": "wal", "synchronous": "1", "foreign_keys": "1", "busy_timeout": "10000"} {
		if got := pragma(t, s, name); got != want {
			t.Errorf("PRAGMA %s = %s, want %s", name, got, want)
		}
	}
	// Sync "user": a commit for a user is flushed (FULL), others are not.
	if err := s.MetaSet(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if got := pragma(t, s, "synchronous"); got != "2" {
		t.Errorf("after a durable write: PRAGMA synchronous = %s, want 2", got)
	}
	if err := s.TasksPut(ctx, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.write(ctx, func(*sql.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := pragma(t, s, "synchronous"); got != "1" {
		t.Errorf("after a plain write: PRAGMA synchronous = %s, want 1", got)
	}
	n, err := Open(ctx, Config{Path: filepath.Join(t.TempDir(), "odd?name#.db"), Sync: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := pragma(t, n, "synchronous"); got != "1" {
		t.Errorf("Sync normal: PRAGMA synchronous = %s, want 1", got)
	}
	var ro int
	if err := n.r.QueryRow("PRAGMA query_only").Scan(&ro); err != nil || ro != 1 {
		t.Errorf("read pool query_only = %d, %v; want 1", ro, err)
	}
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "berth.db")
	s := openAt(t, path)
	id := insert(t, s, plain("a"))
	s.Close()

	s = openAt(t, path)
	var n, v int
	if err := s.w.QueryRow(`SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != len(migrations) || v != len(migrations) {
		t.Errorf("schema_migrations has %d rows up to %d, want %d", n, v, len(migrations))
	}
	if _, err := s.JobGet(context.Background(), id); err != nil {
		t.Errorf("job lost on reopen: %v", err)
	}
}

func TestMigrateNewerRefused(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "berth.db")
	s := openAt(t, path)
	if _, err := s.w.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future', 0)`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(context.Background(), Config{Path: path})
	if !errors.Is(err, ErrSchemaNewer) || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open of a newer database = %v, want ErrSchemaNewer", err)
	}
}

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	ok := fstest.MapFS{
		"migrations/001_a.up.sql": {Data: []byte("CREATE TABLE a (x)")},
		"migrations/002_b.up.sql": {Data: []byte("CREATE TABLE b (x)")},
	}
	ms, err := loadMigrations(ok)
	if err != nil || len(ms) != 2 || ms[1].name != "b" || ms[1].version != 2 {
		t.Fatalf("loadMigrations = %+v, %v", ms, err)
	}
	gap := fstest.MapFS{
		"migrations/001_a.up.sql": {Data: []byte("")},
		"migrations/003_c.up.sql": {Data: []byte("")},
	}
	if _, err := loadMigrations(gap); err == nil {
		t.Fatal("a gap in migration versions was accepted")
	}
}

func isNotFound(err error) bool { return errors.Is(err, job.ErrNotFound) }
