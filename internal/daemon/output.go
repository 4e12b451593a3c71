package daemon

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/internal/datadir"
	"github.com/berth-run/berth/scheduler"
)

// outputSink writes the output remote workers stream (dispatch.Output) into
// the tasks' files in the data directory, where logs, receive and results
// read it as they read a local worker's.
type outputSink struct {
	dir   datadir.Dir
	sched *scheduler.Scheduler
}

var streamFiles = map[string]string{
	dispatch.StreamStdout: datadir.StdoutFile,
	dispatch.StreamStderr: datadir.StderrFile,
	dispatch.StreamResult: datadir.ResultFile,
	dispatch.StreamTimes:  datadir.TimesFile,
}

// handle is called for one message at a time. Only the worker that holds the
// attempt may write, so a stale attempt cannot overwrite a newer one. Data
// is placed by offset: a repeated chunk is not written twice and a chunk past
// the end is refused with the size, where the worker goes on from.
func (o *outputSink) handle(m *dispatch.Output) dispatch.OutputReply {
	if !o.sched.Holds(m.TaskKey, m.Worker) {
		return dispatch.OutputReply{Error: fmt.Sprintf("attempt %d of task %d.%d is not held by worker %s", m.Attempt, m.Job, m.Index, m.Worker)}
	}
	if m.Reset {
		for _, name := range streamFiles {
			path := o.dir.TaskFile(m.Job, m.Index, name)
			if name == datadir.TimesFile {
				// Removed, not emptied: an attempt that records no times
				// (an OpenJD session) has none.
				if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
					return dispatch.OutputReply{Error: err.Error()}
				}
				continue
			}
			if err := o.truncate(path); err != nil {
				return dispatch.OutputReply{Error: err.Error()}
			}
		}
		return dispatch.OutputReply{OK: true}
	}
	name, ok := streamFiles[m.Stream]
	if !ok || m.Offset < 0 {
		return dispatch.OutputReply{Error: fmt.Sprintf("bad output stream %q at offset %d", m.Stream, m.Offset)}
	}
	size, err := o.write(o.dir.TaskFile(m.Job, m.Index, name), m.Offset, m.Data)
	if err != nil {
		return dispatch.OutputReply{Error: err.Error()}
	}
	return dispatch.OutputReply{OK: true, Size: size}
}

func (o *outputSink) truncate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// write puts data at off in the file unless the file is shorter than off,
// and returns the file's size.
func (o *outputSink) write(path string, off int64, data []byte) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	var size int64
	fi, err := f.Stat()
	if err == nil {
		size = fi.Size()
		if off <= size && off+int64(len(data)) > size {
			_, err = f.WriteAt(data[size-off:], size)
			size = off + int64(len(data))
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return size, nil
}
