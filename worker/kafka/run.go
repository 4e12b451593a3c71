package kafka

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	units "github.com/docker/go-units"
)

// errAborted ends a run cut short by the worker's hard stop: its container
// is gone and the job gets no answer (its record is redelivered).
var errAborted = errors.New("aborted by the worker's stop")

// startAttempts bounds the starts of a container that fail for a reason
// other than its image (the engine's trouble, say), a second apart, then
// two, four...; after the last the job ends FAILED.
const startAttempts = 4

// settleTimeout bounds the engine calls that clean up after a run.
const settleTimeout = time.Minute

var safeRunName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// runName names a run of a job: the jobId if it is short and plain (UUIDs
// are), else a hash of it, then a sequence number.
func runName(jobID string, seq int64) string {
	name := jobID
	if !safeRunName.MatchString(jobID) {
		sum := sha256.Sum256([]byte(jobID))
		name = "h" + hex.EncodeToString(sum[:12])
	}
	return name + "-" + strconv.FormatInt(seq, 10)
}

// runScript runs the job's script in a container of the sandbox and
// returns how it ended. started is called once the container runs. It
// returns errAborted, having removed the container, if ctx ends first.
func (w *Worker) runScript(ctx context.Context, m *Message, started func()) (*ScriptResults, error) {
	sb := w.cfg.Sandbox
	id := runName(m.JobID, w.seq.Add(1))
	dir := filepath.Join(w.jobsDir, w.instance+"."+id)
	log := w.log.With("job", m.JobID, "run", id)
	defer func() {
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("removing the job directory", "dir", dir, "err", err)
		}
	}()
	if err := w.writeJobFiles(dir, m); err != nil {
		log.Error("writing the job's files", "err", err)
		return failed("", fmt.Sprintf("berth: could not write the job's files: %v\n", err)), nil
	}
	ctr, err := executor.ContainerOf(&job.Template{
		Image:      sb.Image,
		Extensions: w.extensions(),
		// The script directory, read-only.
		StageIn: []job.Mount{{Host: filepath.Join(dir, "script"), Container: sb.MountPoint}},
	})
	if err != nil {
		log.Error("the sandbox's container settings", "err", err)
		return failed("", fmt.Sprintf("berth: the sandbox could not start: %v\n", err)), nil
	}
	spec := &executor.Spec{
		ID:        id,
		Env:       sandboxEnv(sb.Env),
		WorkDir:   sb.WorkDir,
		Stdout:    filepath.Join(dir, "stdout"),
		Stderr:    filepath.Join(dir, "stderr"),
		Container: ctr,
	}
	if err := w.start(ctx, log, spec); err != nil {
		if ctx.Err() != nil {
			return nil, errAborted
		}
		log.Warn("the sandbox did not start", "err", err)
		return failed("", fmt.Sprintf("berth: the sandbox could not start: %v\n", err)), nil
	}
	started()
	defer w.destroy(log, id)

	exits, err := w.exec.Wait(ctx, id)
	if err != nil {
		return failed("", fmt.Sprintf("berth: lost the sandbox: %v\n", err)), nil
	}
	limit := time.NewTimer(sb.TimeLimit)
	defer limit.Stop()
	var (
		exit     *executor.Exit
		timedOut bool
	)
	select {
	case exit = <-exits:
	case <-limit.C:
		timedOut = true
		log.Info("time limit exceeded; stopping the script", "limit", sb.TimeLimit)
		if err := w.exec.Stop(ctx, id, sb.StopGrace); err != nil && !errors.Is(err, executor.ErrNotRunning) && ctx.Err() == nil {
			log.Warn("stopping the sandbox", "err", err)
		}
		exit = <-exits
	case <-ctx.Done():
	}
	if exit == nil { // ctx ended
		return nil, errAborted
	}
	res := &ScriptResults{
		Stdout: readOutput(spec.Stdout),
		Stderr: readOutput(spec.Stderr),
	}
	switch {
	case timedOut:
		res.FinishedWith = FinishedTimeLimitExceeded
	case exit.Err != nil:
		res.FinishedWith = FinishedFailed
		res.Stderr += fmt.Sprintf("\n[berth: lost track of the sandbox: %v]\n", exit.Err)
	case exit.ExitCode == 0:
		res.FinishedWith = FinishedSucceeded
	default:
		res.FinishedWith = FinishedFailed
		if exit.OOMKilled {
			res.Stderr += fmt.Sprintf("\n[berth: killed for using more than its memory limit of %s]\n", units.BytesSize(float64(w.memoryLimit())))
		}
	}
	log.Info("script ended", "finishedWith", res.FinishedWith, "exitCode", exit.ExitCode)
	return res, nil
}

func failed(stdout, stderr string) *ScriptResults {
	return &ScriptResults{FinishedWith: FinishedFailed, Stdout: stdout, Stderr: stderr}
}

// start starts the container. An image that is missing (and cannot be
// pulled) fails at once; other failures are tried again, startAttempts
// times in all.
func (w *Worker) start(ctx context.Context, log *slog.Logger, spec *executor.Spec) error {
	backoff := time.Second
	for attempt := 1; ; attempt++ {
		_, err := w.exec.Start(ctx, spec)
		if err == nil || ctx.Err() != nil || attempt == startAttempts ||
			errors.Is(err, executor.ErrImageNotFound) || errors.Is(err, executor.ErrPullFailed) {
			return err
		}
		log.Warn("starting the sandbox failed; trying again", "attempt", attempt, "in", backoff, "err", err)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return ctx.Err()
		}
		backoff *= 2
	}
}

// destroy removes the run's container, killing it if it still runs.
func (w *Worker) destroy(log *slog.Logger, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	if err := w.exec.Destroy(ctx, id, true); err != nil && !errors.Is(err, executor.ErrNotFound) {
		log.Warn("removing the sandbox", "err", err)
	}
}

// writeJobFiles writes the script and the config files of the job into
// dir/script, readable by any user (the image's user may not be root).
func (w *Worker) writeJobFiles(dir string, m *Message) error {
	sb := w.cfg.Sandbox
	script := filepath.Join(dir, "script")
	if err := os.MkdirAll(script, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(script, 0o755); err != nil { // whatever the umask
		return err
	}
	files := map[string]string{sb.ScriptFile: m.Script}
	for field, name := range sb.ConfigFiles {
		if v, ok := m.JobConfig[field]; ok {
			files[name] = v
		}
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		p := filepath.Join(script, name)
		if err := os.WriteFile(p, []byte(files[name]), 0o644); err != nil {
			return err
		}
		if err := os.Chmod(p, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// extensions maps the sandbox to the docker executor's settings.
func (w *Worker) extensions() map[string]string {
	sb := w.cfg.Sandbox
	ext := maps.Clone(sb.Extensions)
	if ext == nil {
		ext = map[string]string{}
	}
	ext["net"] = sb.Network
	ext["pull"] = sb.Pull
	if len(sb.Command) > 0 {
		argv, _ := json.Marshal(sb.Command)
		ext["entrypoint"] = string(argv)
	}
	if !sb.NoNewPrivileges {
		ext["security-opt"] = ""
	}
	if !w.cfg.NoResourceLimits {
		if sb.Memory > 0 {
			ext["memory"] = strconv.FormatInt(sb.Memory, 10)
		}
		if sb.CPUs > 0 {
			ext["cpus"] = strconv.FormatFloat(sb.CPUs, 'f', -1, 64)
		}
		if sb.Pids > 0 {
			ext["pids"] = strconv.FormatInt(sb.Pids, 10)
		}
		if sb.MemoryReservation > 0 {
			ext["memory-reservation"] = strconv.FormatInt(sb.MemoryReservation, 10)
		}
		if sb.CPUShares > 0 {
			ext["cpu-shares"] = strconv.FormatInt(sb.CPUShares, 10)
		}
		if sb.BlkioWeight > 0 {
			ext["blkio-weight"] = strconv.FormatInt(sb.BlkioWeight, 10)
		}
	}
	return ext
}

func (w *Worker) memoryLimit() int64 {
	if w.cfg.NoResourceLimits {
		return 0
	}
	return w.cfg.Sandbox.Memory
}

func sandboxEnv(env map[string]string) []string {
	var l []string
	for _, k := range slices.Sorted(maps.Keys(env)) {
		l = append(l, k+"="+env[k])
	}
	return l
}

// readOutput returns the content of an output file (the executor caps it
// at the sandbox's output limit, and marks a cut).
func readOutput(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return string(b) + fmt.Sprintf("\n[berth: reading the output: %v]\n", err)
	}
	return string(b)
}

// jobDirPrefix is the name prefix of the worker's job directories.
func jobDirPrefix(instance string) string { return instance + "." }

// removeJobDirs removes the job directories left by an earlier run of this
// worker (same instance) in dir, and returns how many.
func removeJobDirs(dir, instance string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, e := range entries {
		if e.IsDir() && strings.HasPrefix(e.Name(), jobDirPrefix(instance)) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				errs = append(errs, err)
				continue
			}
			n++
		}
	}
	return n, errors.Join(errs...)
}
