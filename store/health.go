package store

import (
	"context"
	"errors"
	"syscall"
	"time"
)

// sqliteFull is SQLITE_FULL, the primary code of "database or disk is full".
const sqliteFull = 13

// IsFull reports whether err says the disk (or the database) is full.
func IsFull(err error) bool {
	var c interface{ Code() int }
	if errors.As(err, &c) && c.Code()&0xff == sqliteFull {
		return true
	}
	return errors.Is(err, syscall.ENOSPC)
}

// WriteErr returns the error of the last write if it failed, nil once a
// write succeeds again: a failing disk shows in the server's health.
func (s *Store) WriteErr() error {
	if p := s.writeErr.Load(); p != nil {
		return *p
	}
	return nil
}

// noteWrite records the outcome of a write for WriteErr. A canceled
// context says nothing of the store.
func (s *Store) noteWrite(ctx context.Context, err error) {
	switch {
	case err == nil:
		if s.writeErr.Load() != nil {
			s.writeErr.Store(nil)
		}
	case ctx.Err() == nil:
		s.writeErr.Store(&err)
	}
}

// WriteCheck commits a small write, to learn whether the store can write
// again after a failure (space freed) when nothing else writes.
func (s *Store) WriteCheck(ctx context.Context) error {
	return s.MetaSet(ctx, "write_check", time.Now().UTC().Format(time.RFC3339Nano))
}
