package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"
)

// ErrSchemaNewer is returned (wrapped) by Open when the database was written
// by a newer berth, whose schema this one does not know.
var ErrSchemaNewer = errors.New("database schema is newer than this berth")

//go:embed migrations/*.up.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations are the embedded NNN_name.up.sql files in version order; they
// must number 1, 2, 3... without gaps.
var migrations = mustLoadMigrations(migrationFS)

func mustLoadMigrations(fsys fs.FS) []migration {
	ms, err := loadMigrations(fsys)
	if err != nil {
		panic(err)
	}
	return ms
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.up.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, p := range names { // fs.Glob sorts, and versions are zero-padded
		base := strings.TrimSuffix(path.Base(p), ".up.sql")
		num, name, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil || v != len(ms)+1 {
			return nil, fmt.Errorf("migration %s: want version %03d", p, len(ms)+1)
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	return ms, nil
}

// migrate applies the pending migrations, each in its own transaction with
// its version recorded, so a crash leaves the schema at some whole version.
// BEGIN IMMEDIATE (the write connection's mode) serializes two processes
// opening the same new file.
func migrate(ctx context.Context, db *sql.DB) error {
	for {
		done, err := migrateNext(ctx, db, migrations)
		if err != nil || done {
			return err
		}
	}
}

func migrateNext(ctx context.Context, db *sql.DB, ms []migration) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return false, fmt.Errorf("creating schema_migrations: %w", err)
	}
	var cur int
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return false, fmt.Errorf("reading schema version: %w", err)
	}
	switch {
	case cur > len(ms):
		return false, fmt.Errorf("%w: it has version %d, this berth knows up to %d; run a newer berth",
			ErrSchemaNewer, cur, len(ms))
	case cur == len(ms):
		return true, tx.Commit()
	}
	m := ms[cur]
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return false, fmt.Errorf("migration %03d_%s: %w", m.version, m.name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.version, m.name, nanos(time.Now())); err != nil {
		return false, fmt.Errorf("recording migration %03d_%s: %w", m.version, m.name, err)
	}
	return false, tx.Commit()
}
