// Package datadir knows the layout of berth's data directory ($BERTH_HOME).
package datadir

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
)

// Dir is a data directory.
type Dir string

// Default returns $BERTH_HOME, else $XDG_DATA_HOME/berth, else
// ~/.local/share/berth.
func Default() (Dir, error) {
	if d := os.Getenv("BERTH_HOME"); d != "" {
		return Dir(d), nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return Dir(filepath.Join(d, "berth")), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", errors.New("cannot find a data directory: set BERTH_HOME")
	}
	return Dir(filepath.Join(home, ".local", "share", "berth")), nil
}

// Ensure creates the directory (mode 0700) if it is missing.
func (d Dir) Ensure() error { return os.MkdirAll(string(d), 0o700) }

// DB is the SQLite database.
func (d Dir) DB() string { return filepath.Join(string(d), "berth.db") }

// Socket is the server's unix socket.
func (d Dir) Socket() string { return filepath.Join(string(d), "berth.sock") }

// Token is the file holding the bearer token of the TCP API.
func (d Dir) Token() string { return filepath.Join(string(d), "token") }

// NATS is the JetStream store directory.
func (d Dir) NATS() string { return filepath.Join(string(d), "nats") }

// NATSInfo is the file where the server writes the URL and credentials of
// its embedded NATS server for the local worker.
func (d Dir) NATSInfo() string { return filepath.Join(string(d), "nats.json") }

// WorkerIdentity holds the local worker's NKey seed (its NATS identity).
func (d Dir) WorkerIdentity() string { return filepath.Join(string(d), "worker", "identity.nk") }

// EnrolledWorkers lists the public keys of the enrolled workers.
func (d Dir) EnrolledWorkers() string { return filepath.Join(string(d), "workers.json") }

// NATSToken holds the embedded NATS server's token alone, for workers on
// other hosts.
func (d Dir) NATSToken() string { return filepath.Join(string(d), "nats.token") }

// RemoteWorker is the state directory of a remote worker (berth worker
// --nats) run with this data directory.
func (d Dir) RemoteWorker() string { return filepath.Join(string(d), "remote-worker") }

// Worker is the state directory of the local worker.
func (d Dir) Worker() string { return filepath.Join(string(d), "worker") }

// ServerLock is locked by the running server.
func (d Dir) ServerLock() string { return filepath.Join(string(d), "server.lock") }

// WorkerLock is locked by the running local worker.
func (d Dir) WorkerLock() string { return filepath.Join(string(d), "worker", "lock") }

// WorkerPID holds the local worker's process ID.
func (d Dir) WorkerPID() string { return filepath.Join(string(d), "worker", "pid") }

// WorkerLog receives the local worker's log.
func (d Dir) WorkerLog() string { return filepath.Join(string(d), "worker", "worker.log") }

// WorkerTasks is where the local worker's executor keeps its task handles.
func (d Dir) WorkerTasks() string { return filepath.Join(string(d), "worker", "tasks") }

// WorkerExits is where the local worker's reaper notes the exits of tasks
// whose worker died.
func (d Dir) WorkerExits() string { return filepath.Join(string(d), "worker", "exits") }

// Jobs is the directory of all jobs' files.
func (d Dir) Jobs() string { return filepath.Join(string(d), "jobs") }

// JobDir is one job's directory.
func (d Dir) JobDir(id int64) string {
	return filepath.Join(string(d), "jobs", strconv.FormatInt(id, 10))
}

// TaskFile is one of a task's files (StdoutFile, StderrFile, ResultFile, TimesFile):
// INDEX.NAME in its job's directory. Files, not a directory per task: a
// directory costs a mkdir per task, as much as starting a short job.
func (d Dir) TaskFile(id int64, index int, name string) string {
	return filepath.Join(d.JobDir(id), strconv.Itoa(index)+"."+name)
}

// Files in a task directory.
const (
	StdoutFile = "stdout"
	StderrFile = "stderr"
	ResultFile = "result.jsonl"
	// TimesFile records when the stdout and stderr bytes arrived (see
	// internal/timeline).
	TimesFile = "times"
)
