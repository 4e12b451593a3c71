// Package store keeps berth's jobs in an embedded SQLite database (pure Go,
// WAL) in the data directory. It is the only package that speaks SQL.
//
// Every write is one transaction, so a crash at any instant leaves each job
// either wholly recorded or not at all. The scheduler is the only writer of
// job state; the server reads through the same Store.
package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/job"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Store is an open database. It is safe for concurrent use.
type Store struct {
	// w has a single connection: writers queue for it in Go instead of
	// meeting SQLITE_BUSY, and every write method is one transaction on it.
	w *sql.DB
	// r is the pool of query-only connections; in WAL mode readers see a
	// consistent snapshot and never block the writer.
	r *sql.DB
	// hot holds the statements of the frequent writes, prepared once on w's
	// one connection: preparing them anew for every transaction costs more
	// than running them.
	hot hotStmts
	// sync is Config.Sync; level the synchronous level w's connection is
	// at now, changed only by the holder of that one connection.
	sync, level string
	// writeErr is the error of the last write, nil if it succeeded.
	writeErr atomic.Pointer[error]
}

type hotStmts struct {
	taskGet, taskUpdate, taskUpdateSizes, sizesSet *sql.Stmt
}

// SQL of the hot statements.
const (
	sqlTaskGet  = `SELECT state, sub_kind, sub_value, attempt FROM tasks WHERE job_id = ? AND idx = ?`
	sqlSizesSet = `UPDATE tasks SET size_stdout = ?, size_stderr = ?, size_results = ? WHERE job_id = ? AND idx = ?`
)

var (
	// sqlTaskSet writes a task whole and appends an entry ("" for none) to
	// its history (see historyEntry): in the row it writes anyway, so a
	// transition dirties no other page. Past historyKept entries the oldest
	// goes first: a task restarted or retried without end would otherwise
	// grow a row that every update rewrites and that spills out of its
	// b-tree page. TaskHistory returns the last historyKept.
	sqlTaskSet = `UPDATE tasks SET state = ?, sub_kind = ?, sub_value = ?, attempt = ?,
			input = ?, worker = ?, host = ?, pid = ?, container_id = ?, session = ?, exit_code = ?, signal = ?, message = ?,
			started_at = ?, finished_at = ?, cpu_ns = ?, max_rss = ?, stdout = ?, stderr = ?, retry_at = ?,
			hostname = ?, ports = ?,
			history = CASE WHEN length(history) - length(replace(history, char(10), '')) > ` + strconv.Itoa(historyKept) + `
				THEN substr(history, instr(history, char(10)) + 1) ELSE history END || ?`
	sqlTaskUpdate = sqlTaskSet + `
			WHERE job_id = ? AND idx = ?`
	// sqlTaskUpdateSizes is sqlTaskUpdate that also sets the output sizes.
	sqlTaskUpdateSizes = sqlTaskSet + `,
			size_stdout = ?, size_stderr = ?, size_results = ?
			WHERE job_id = ? AND idx = ?`
)

func (h *hotStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		st **sql.Stmt
		q  string
	}{{&h.taskGet, sqlTaskGet}, {&h.taskUpdate, sqlTaskUpdate}, {&h.taskUpdateSizes, sqlTaskUpdateSizes}, {&h.sizesSet, sqlSizesSet}} {
		st, err := db.PrepareContext(ctx, p.q)
		if err != nil {
			return err
		}
		*p.st = st
	}
	return nil
}

// Config configures Open.
type Config struct {
	// Path is the database file. Required.
	Path string
	// Sync says which commits are flushed to disk (fsync) before they
	// return. "full": every one. "user": those that answer a user — jobs
	// submitted and removed, receive marks, and writes whose context is
	// marked with Durable; the rest (state changes reported by workers)
	// survive any crash of berth's processes and are flushed with the next
	// durable commit or checkpoint, so an OS crash or power loss may lose
	// the last of them. "normal": none; every commit survives a crash of
	// berth, not of the OS. Defaults to "user".
	Sync string
}

// Sync levels for Config.Sync.
const (
	SyncFull    = "full"
	SyncUser    = "user"
	SyncNormal  = "normal"
	SyncDefault = SyncUser
)

// busyTimeout bounds the wait for another process holding the database lock
// (a second berth on the same file, a backup); in-process writers never wait
// on SQLite since they share one connection.
const busyTimeout = 10 * time.Second

// WithDefaults returns a copy of c with defaults filled in.
func (c Config) WithDefaults() Config {
	c.Sync = cmp.Or(c.Sync, SyncDefault)
	return c
}

func (c *Config) validate() error {
	if c.Path == "" {
		return errors.New("store config: Path is required")
	}
	if c.Sync != SyncFull && c.Sync != SyncUser && c.Sync != SyncNormal {
		return fmt.Errorf("store config: Sync %q must be %q, %q or %q", c.Sync, SyncFull, SyncUser, SyncNormal)
	}
	return nil
}

// Open opens (creating if needed) the database and applies migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// SQLite creates the file honouring the umask, and its WAL and
	// shared memory with the file's mode: they hold job environments.
	if err := datadir.CreatePrivate(cfg.Path); err != nil {
		return nil, fmt.Errorf("opening %s: %w", cfg.Path, err)
	}
	pragmas := url.Values{}
	pragmas.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	pragmas.Add("_pragma", "foreign_keys(1)")
	level := cfg.Sync
	if level == SyncUser {
		level = SyncNormal // raised per commit, see write
	}
	pragmas.Add("_pragma", "synchronous("+level+")")

	wq := maps.Clone(pragmas)
	wq.Add("_pragma", "journal_mode(WAL)")
	// IMMEDIATE takes the write lock at BEGIN, so a transaction that reads
	// before writing cannot fail to upgrade its lock halfway.
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", dsn(cfg.Path, wq))
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", cfg.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("opening %s: %w", cfg.Path, err)
	}

	rq := maps.Clone(pragmas)
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", dsn(cfg.Path, rq))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening %s: %w", cfg.Path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("opening %s: %w", cfg.Path, err)
	}
	st := &Store{w: w, r: r, sync: cfg.Sync, level: level}
	if err := st.hot.prepare(ctx, w); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("opening %s: %w", cfg.Path, err)
	}
	return st, nil
}

// dsn builds a file: URI so that any path works: SQLite decodes the %-escapes
// and ignores the driver's own parameters.
func dsn(path string, q url.Values) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + q.Encode()
}

// Close closes the database.
func (s *Store) Close() error {
	for _, st := range []*sql.Stmt{s.hot.taskGet, s.hot.taskUpdate, s.hot.taskUpdateSizes, s.hot.sizesSet} {
		st.Close()
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

// write runs fn in one transaction on the write connection.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	err := s.writeTx(ctx, fn)
	s.noteWrite(ctx, err)
	return err
}

func (s *Store) writeTx(ctx context.Context, fn func(*sql.Tx) error) error {
	conn, err := s.w.Conn(ctx) // the only one: writers queue here
	if err != nil {
		return err
	}
	defer conn.Close()
	if s.sync == SyncUser {
		want := SyncNormal
		if durable(ctx) {
			want = SyncFull
		}
		// SQLite takes the level of a commit from the connection, and
		// refuses to change it inside a transaction.
		if want != s.level {
			if _, err := conn.ExecContext(ctx, "PRAGMA synchronous="+want); err != nil {
				return err
			}
			s.level = want
		}
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// read runs fn in one read transaction, so that its queries see one snapshot.
func (s *Store) read(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// Times are stored as integer Unix nanoseconds: compact, and they sort.
func nanos(t time.Time) int64 { return t.UnixNano() }

func nullNanos(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func fromNullNanos(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromNanos(n.Int64)
	return &t
}

func errNoJob(id int64) error { return fmt.Errorf("no job %d: %w", id, job.ErrNotFound) }

func errNoTask(id int64, index int) error {
	r := job.Ref{Job: id, Index: index, HasIndex: index != 0}
	return fmt.Errorf("no task %s: %w", r, job.ErrNotFound)
}

type durableKey struct{}

// Durable marks ctx so that writes made with it are flushed to disk before
// they return, under Sync "user" (under "full" all are, under "normal"
// none).
func Durable(ctx context.Context) context.Context {
	return context.WithValue(ctx, durableKey{}, true)
}

func durable(ctx context.Context) bool { return ctx.Value(durableKey{}) != nil }
