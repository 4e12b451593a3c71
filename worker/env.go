package worker

import (
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/internal/datadir"
)

// baseEnv lists the variables a task inherits from the worker's own
// environment; nothing else of it leaks into tasks (tokens, say).
var baseEnv = []string{"PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR"}

// defaultPath is the PATH of tasks when the worker has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// EnvResult names the file a task writes its JSON results to.
const EnvResult = "BERTH_RESULT"

// spec makes the executor's spec of work, creating its task directory.
func (w *Worker) spec(work *dispatch.Work) (*executor.Spec, error) {
	dir, stdout, stderr, result := work.Dir, work.Stdout, work.Stderr, work.Result
	if w.remote() {
		// The server's paths mean nothing here.
		dir = w.cfg.TaskDir(work.TaskKey)
		stdout, stderr, result = "", "", ""
	}
	if dir == "" {
		return nil, fmt.Errorf("work %s has no task directory", work.TaskKey)
	}
	// Mkdir first: the directory (a job's, shared by its tasks) usually
	// exists, and MkdirAll would stat every parent for each task.
	if err := os.Mkdir(dir, 0o700); err != nil && !os.IsExist(err) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating task directory: %w", err)
		}
	}
	// A process job without a working directory runs where it was
	// submitted from, if that exists here.
	workDir := work.Template.WorkDir
	if workDir == "" && work.SubmitDir != "" && work.Template.Image == "" {
		if fi, err := os.Stat(work.SubmitDir); err == nil && fi.IsDir() {
			workDir = work.SubmitDir
		}
	}
	return &executor.Spec{
		ID:       work.TaskKey.String(),
		Command:  work.Template.Command,
		Args:     work.Template.Args,
		Env:      taskEnv(work, cmp.Or(result, filepath.Join(dir, datadir.ResultFile)), os.LookupEnv),
		WorkDir:  cmp.Or(workDir, dir),
		Stdout:   cmp.Or(stdout, filepath.Join(dir, datadir.StdoutFile)),
		Stderr:   cmp.Or(stderr, filepath.Join(dir, datadir.StderrFile)),
		Template: work.Template,
	}, nil
}

// taskEnv builds a task's environment as sorted KEY=VALUE: the few base
// variables of the worker's (from lookup), then the ones berth sets, then
// the template's, and last BERTH_RESULT.
func taskEnv(w *dispatch.Work, result string, lookup func(string) (string, bool)) []string {
	env := map[string]string{"PATH": defaultPath}
	for _, k := range baseEnv {
		if v, ok := lookup(k); ok {
			env[k] = v
		}
	}
	for k, v := range w.Env {
		env[k] = v
	}
	for k, v := range w.Template.Env {
		env[k] = v
	}
	env[EnvResult] = result
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}
