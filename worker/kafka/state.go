package kafka

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// state is the worker's state directory:
//
//	lock       flock'ed by the running worker
//	instance   the worker's ID, made at the first start
//	finished/  the finished message of each job answered, one file per job
//	           (named by the SHA-256 of its jobId), kept for the dedup window
//	jobs/      the default directory of the jobs' files
type state struct {
	dir      string
	lock     *os.File
	instance string
}

// openState creates the directory if need be, locks it, and reads (or
// makes) the worker's instance ID.
func openState(dir string) (*state, error) {
	if err := os.MkdirAll(filepath.Join(dir, "finished"), 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("state directory %s is in use by another worker (each worker needs its own --state-dir)", dir)
		}
		return nil, fmt.Errorf("state directory: locking: %w", err)
	}
	s := &state{dir: dir, lock: f}
	if s.instance, err = s.readInstance(); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (s *state) readInstance() (string, error) {
	p := filepath.Join(s.dir, "instance")
	b, err := os.ReadFile(p)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if id != "" && !strings.ContainsAny(id, "/:, \t") {
			return id, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("state directory: %w", err)
	}
	var r [6]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	if err := writeFileSync(p, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("state directory: %w", err)
	}
	return id, nil
}

func (s *state) close() {
	s.lock.Close() // releases the lock
}

func (s *state) finishedPath(jobID string) string {
	sum := sha256.Sum256([]byte(jobID))
	return filepath.Join(s.dir, "finished", hex.EncodeToString(sum[:])+".json")
}

// finished returns the finished message stored for jobID, if any.
func (s *state) finished(jobID string) ([]byte, bool, error) {
	b, err := os.ReadFile(s.finishedPath(jobID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var m struct {
		JobID string `json:"jobId"`
	}
	if json.Unmarshal(b, &m) != nil || m.JobID != jobID {
		return nil, false, nil // torn or foreign: not an answer
	}
	return b, true, nil
}

// storeFinished durably records the finished message of jobID.
func (s *state) storeFinished(jobID string, msg []byte) error {
	return writeFileSync(s.finishedPath(jobID), msg)
}

// prune removes the finished records older than before and returns how
// many it removed.
func (s *state) prune(before time.Time) (int, error) {
	dir := filepath.Join(s.dir, "finished")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		// Temporary files of a write cut short by a crash go too.
		if info.ModTime().Before(before) || (strings.HasPrefix(e.Name(), ".tmp-") && info.ModTime().Before(time.Now().Add(-time.Hour))) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}

// writeFileSync writes data to path atomically and durably: a temporary
// file beside it, synced, renamed over it, and the directory synced.
func writeFileSync(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
