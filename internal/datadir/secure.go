package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Loosened is a file or directory of the data directory whose mode let
// others in, and that Secure restricted.
type Loosened struct {
	Path string
	Was  fs.FileMode
}

// Secure creates the directory mode 0700, or restricts it to 0700 if it
// exists with a looser mode, and restricts the files in it that hold
// secrets (the database with its WAL and shared memory, which hold job
// environments; tokens; NATS credentials) and the directories of jobs,
// JetStream and the local worker the same way (0600, 0700). It creates the database file mode 0600 if missing, since
// SQLite creates its files honouring the umask, and its WAL and shared
// memory files with the database file's mode. It returns what it had to
// restrict, for a warning.
func (d Dir) Secure() ([]Loosened, error) {
	var out []Loosened
	// Links in the directory are not followed (the directory itself may
	// be one: its owner chose the path).
	restrict := func(path string, want fs.FileMode) error {
		stat := os.Lstat
		if path == string(d) {
			stat = os.Stat
		}
		fi, err := stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 || fi.Mode().Perm()&^want == 0 {
			return nil // a mode as tight is kept
		}
		if err := os.Chmod(path, want); err != nil {
			return fmt.Errorf("restricting %s to %o: %w", path, want, err)
		}
		out = append(out, Loosened{Path: path, Was: fi.Mode().Perm()})
		return nil
	}
	if err := os.MkdirAll(string(d), 0o700); err != nil {
		return nil, err
	}
	if err := restrict(string(d), 0o700); err != nil {
		return out, err
	}
	for _, dir := range []string{d.Jobs(), d.NATS(), d.Worker()} {
		if err := restrict(dir, 0o700); err != nil {
			return out, err
		}
	}
	for _, f := range []string{d.DB(), d.DB() + "-wal", d.DB() + "-shm", d.Token(), d.NATSInfo(), d.NATSToken(), d.WorkerIdentity(), d.EnrolledWorkers()} {
		if err := restrict(f, 0o600); err != nil {
			return out, err
		}
	}
	return out, CreatePrivate(d.DB())
}

// CreatePrivate creates an empty file mode 0600 at path if none is there.
func CreatePrivate(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}
