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
	"github.com/berth-run/berth/job"
)

// baseEnv lists the variables a task inherits from the worker's own
// environment; nothing else of it leaks into tasks (tokens, say).
var baseEnv = []string{"PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR"}

// defaultPath is the PATH of tasks when the worker has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// EnvResult names the file a task writes its JSON results to.
const EnvResult = "BERTH_RESULT"

// containerResult is where a container job finds its results file: the
// task's file on the worker, bind-mounted read-write.
const containerResult = "/run/berth/result.jsonl"

// spec makes the executor's spec of work, creating its task directory.
func (w *Worker) spec(work *dispatch.Work) (*executor.Spec, error) {
	dir, stdout, stderr, result, times := work.Dir, work.Stdout, work.Stderr, work.Result, work.Times
	if w.remote() {
		// The server's paths mean nothing here.
		dir = w.cfg.TaskDir(work.TaskKey)
		stdout, stderr, result, times = "", "", "", ""
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
	result = cmp.Or(result, filepath.Join(dir, datadir.ResultFile))
	tmpl := work.Template
	var env []string
	var ctr *executor.ContainerSpec
	workDir = cmp.Or(workDir, dir)
	if tmpl.Image == "" {
		env = append(taskEnv(work, result, os.LookupEnv), w.cfg.TaskEnv...)
	} else {
		var err error
		if tmpl, err = withResultMount(tmpl, result); err != nil {
			return nil, err
		}
		if ctr, err = executor.ContainerOf(&tmpl); err != nil {
			return nil, err
		}
		env = taskEnv(work, containerResult, nil)
		workDir = tmpl.WorkDir // a path in the container; none: the image's
	}
	return &executor.Spec{
		ID:         work.TaskKey.String(),
		Command:    tmpl.Command,
		Args:       tmpl.Args,
		Env:        env,
		WorkDir:    workDir,
		Stdout:     cmp.Or(stdout, filepath.Join(dir, datadir.StdoutFile)),
		Stderr:     cmp.Or(stderr, filepath.Join(dir, datadir.StderrFile)),
		Times:      cmp.Or(times, filepath.Join(dir, datadir.TimesFile)),
		OutputPath: tmpl.OutputPath,
		ErrorPath:  tmpl.ErrorPath,
		Container:  ctr,
	}, nil
}

// withResultMount returns tmpl with the task's results file (created empty,
// writable by any user the container runs as; its directory is the
// worker's, mode 0700) mounted at containerResult.
func withResultMount(tmpl job.Template, result string) (job.Template, error) {
	f, err := os.OpenFile(result, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o666)
	if err != nil {
		return tmpl, fmt.Errorf("creating the results file: %w", err)
	}
	err = f.Chmod(0o666) // past the umask
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return tmpl, fmt.Errorf("creating the results file: %w", err)
	}
	tmpl.StageIn = append(slices.Clip(tmpl.StageIn), job.Mount{Host: result, Container: containerResult, RW: true})
	return tmpl, nil
}

// hostEnv is what a task on the host takes of the worker's environment:
// the base variables (from lookup), PATH defaultPath when it has none.
func hostEnv(lookup func(string) (string, bool)) map[string]string {
	env := map[string]string{"PATH": defaultPath}
	for _, k := range baseEnv {
		if v, ok := lookup(k); ok {
			env[k] = v
		}
	}
	return env
}

// taskEnv builds a task's environment as sorted KEY=VALUE: the few base
// variables of the worker's (from lookup), then the ones berth sets, then
// the template's, and last BERTH_RESULT. A nil lookup (a container job,
// which has its image's environment) adds no base variables.
func taskEnv(w *dispatch.Work, result string, lookup func(string) (string, bool)) []string {
	env := map[string]string{}
	if lookup != nil {
		env = hostEnv(lookup)
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
