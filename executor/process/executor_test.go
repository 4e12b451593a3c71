package process_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/executor/process"
	"github.com/berth-run/berth/job"
	"github.com/stretchr/testify/require"
)

func TestExitCode(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})

	s := shSpec(t, "fail", "echo out; echo err >&2; exit 3")
	h := start(t, e, s)
	require.Equal(t, process.Driver, h.Driver)
	require.Positive(t, h.Ident.PID)
	require.NotZero(t, handleState(t, h)["start_ticks"])

	x := wait(t, e, s.ID)
	require.Equal(t, 3, x.ExitCode)
	require.Empty(t, x.Signal)
	require.NoError(t, x.Err)
	require.WithinDuration(t, time.Now(), x.Finished, 10*time.Second)
	require.Equal(t, "out\n", readFile(t, s.Stdout))
	require.Equal(t, "err\n", readFile(t, s.Stderr))

	st, err := e.Inspect(t.Context(), s.ID)
	require.NoError(t, err)
	require.Equal(t, job.Failed, st.State)
	require.Equal(t, 3, st.Exit.ExitCode)

	s = shSpec(t, "ok", "exit 0")
	start(t, e, s)
	require.Equal(t, 0, wait(t, e, s.ID).ExitCode)
	st, err = e.Inspect(t.Context(), s.ID)
	require.NoError(t, err)
	require.Equal(t, job.Done, st.State)
}

func TestSignalName(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", "kill -9 $$")
	start(t, e, s)
	x := wait(t, e, s.ID)
	require.Equal(t, -1, x.ExitCode)
	require.Equal(t, "SIGKILL", x.Signal)
	st, err := e.Inspect(t.Context(), s.ID)
	require.NoError(t, err)
	require.Equal(t, job.Failed, st.State)
}

func TestArgvVerbatim(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	args := []string{"two words", `"double"`, "'single'", "$HOME", "a;b", "`id`", "*", "", "x\ny"}
	// printf is found through the PATH in the spec's environment.
	s := newSpec(t, "t", "printf", append([]string{`[%s]\n`}, args...)...)
	start(t, e, s)
	require.Equal(t, 0, wait(t, e, s.ID).ExitCode)
	var want strings.Builder
	for _, a := range args {
		want.WriteString("[" + a + "]\n")
	}
	require.Equal(t, want.String(), readFile(t, s.Stdout))
}

func TestEnvExact(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	env := []string{"B=2", "A=one two", "EMPTY=", testPath}
	s := newSpec(t, "t", "env")
	s.Env = env
	start(t, e, s)
	require.Equal(t, 0, wait(t, e, s.ID).ExitCode)
	require.Equal(t, strings.Join(env, "\n")+"\n", readFile(t, s.Stdout))

	s = newSpec(t, "empty", "/usr/bin/env")
	s.Env = nil
	start(t, e, s)
	require.Equal(t, 0, wait(t, e, s.ID).ExitCode)
	require.Empty(t, readFile(t, s.Stdout))
}

func TestWorkDir(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", "pwd -P; cat input")
	wd, err := filepath.EvalSymlinks(s.WorkDir)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(wd, "input"), []byte("hi\n"), 0o600))
	start(t, e, s)
	require.Equal(t, 0, wait(t, e, s.ID).ExitCode)
	require.Equal(t, wd+"\nhi\n", readFile(t, s.Stdout))

	s = shSpec(t, "missing", "true")
	s.WorkDir = filepath.Join(s.WorkDir, "nosuch")
	_, err = e.Start(t.Context(), s)
	require.ErrorIs(t, err, executor.ErrStartFailed)
	require.ErrorIs(t, err, os.ErrNotExist)
	require.Contains(t, err.Error(), "working directory")
}

func TestStartErrors(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})

	_, err := e.Start(t.Context(), newSpec(t, "t", "nosuch-berth-command"))
	require.ErrorIs(t, err, executor.ErrStartFailed)
	require.Contains(t, err.Error(), `nosuch-berth-command: command not found`)
	var notFound *executor.CommandNotFoundError
	require.ErrorAs(t, err, &notFound)
	_, err = e.Start(t.Context(), newSpec(t, "t", "/no/such/dir/cmd"))
	require.ErrorAs(t, err, &notFound)
	require.Equal(t, "/no/such/dir/cmd", notFound.Command)

	s := newSpec(t, "t", "./script")
	require.NoError(t, os.WriteFile(filepath.Join(s.WorkDir, "script"), []byte("#!/bin/sh\n"), 0o600))
	_, err = e.Start(t.Context(), s)
	require.ErrorIs(t, err, executor.ErrStartFailed)
	require.Contains(t, err.Error(), `"./script"`)

	s = shSpec(t, "dup", "sleep 1000")
	start(t, e, s)
	_, err = e.Start(t.Context(), s)
	require.ErrorIs(t, err, executor.ErrStartFailed)
}

func TestLookPathFromSpecEnv(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := newSpec(t, "t", "berth-hello")
	bin := filepath.Join(s.WorkDir, "bin")
	require.NoError(t, os.Mkdir(bin, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(bin, "berth-hello"), []byte("#!/bin/sh\necho hello \"$0\"\n"), 0o700))
	s.Env = []string{"PATH=/nonexistent:" + bin}
	start(t, e, s)
	require.Equal(t, 0, wait(t, e, s.ID).ExitCode)
	// argv[0] stays the command as given.
	require.Equal(t, "hello "+filepath.Join(bin, "berth-hello")+"\n", readFile(t, s.Stdout))
}

func TestOutputComplete(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", "head -c 5000000 /dev/urandom; head -c 5000001 /dev/urandom >&2")
	require.NoError(t, os.WriteFile(s.Stdout, []byte(strings.Repeat("old", 1e6)), 0o600))
	start(t, e, s)
	require.Equal(t, 0, wait(t, e, s.ID).ExitCode)
	for path, size := range map[string]int64{s.Stdout: 5000000, s.Stderr: 5000001} {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, size, fi.Size(), path)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	}
}

func TestOutputSharedFile(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", "echo 1; echo 2 >&2; echo 3")
	s.Stderr = s.Stdout
	start(t, e, s)
	require.Equal(t, 0, wait(t, e, s.ID).ExitCode)
	require.Equal(t, "1\n2\n3\n", readFile(t, s.Stdout))
}

// TestOutputPaths checks the copies of the output to the template's
// OutputPath and ErrorPath at the task's end, and a failed copy.
func TestOutputPaths(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	dir := t.TempDir()
	s := shSpec(t, "t", "echo out; echo err >&2; exit 3")
	s.OutputPath = filepath.Join(dir, "sub", "out.txt")
	s.ErrorPath = filepath.Join(dir, "err.txt")
	start(t, e, s)
	x := wait(t, e, s.ID)
	require.Equal(t, 3, x.ExitCode)
	require.NoError(t, x.CopyErr)
	require.Equal(t, "out\n", readFile(t, s.OutputPath))
	require.Equal(t, "err\n", readFile(t, s.ErrorPath))

	both := shSpec(t, "both", "echo out; echo err >&2")
	both.OutputPath = filepath.Join(dir, "both.txt")
	both.ErrorPath = both.OutputPath
	start(t, e, both)
	require.Equal(t, 0, wait(t, e, both.ID).ExitCode)
	require.Equal(t, "out\nerr\n", readFile(t, both.OutputPath))

	bad := shSpec(t, "bad", "true")
	bad.OutputPath = filepath.Join(dir, "out.txt", "x") // below a file
	require.NoError(t, os.WriteFile(filepath.Join(dir, "out.txt"), nil, 0o600))
	start(t, e, bad)
	require.ErrorContains(t, wait(t, e, bad.ID).CopyErr, "output_path")
}

func TestOutputWhileRunning(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", "echo started; echo warming >&2; exec sleep 1000")
	start(t, e, s)
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(s.Stdout)
		return string(b) == "started\n"
	}, 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool { return readFile(t, s.Stderr) == "warming\n" }, 5*time.Second, 10*time.Millisecond)
	st, err := e.Inspect(t.Context(), s.ID)
	require.NoError(t, err)
	require.Equal(t, job.Running, st.State)
	require.Nil(t, st.Exit)
}

// TestOutputLazy: no output, no file; an earlier attempt's file is
// truncated; the output is complete when the exit is reported.
func TestOutputLazy(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	quiet := shSpec(t, "quiet", "exit 0")
	start(t, e, quiet)
	require.Equal(t, 0, wait(t, e, quiet.ID).ExitCode)
	for _, p := range []string{quiet.Stdout, quiet.Stderr} {
		_, err := os.Stat(p)
		require.ErrorIs(t, err, os.ErrNotExist, p)
	}

	loud := shSpec(t, "loud", "head -c 300000 /dev/zero; echo err >&2; exit 3")
	require.NoError(t, os.WriteFile(loud.Stderr, []byte("an earlier attempt's stderr\n"), 0o600))
	start(t, e, loud)
	require.Equal(t, 3, wait(t, e, loud.ID).ExitCode)
	fi, err := os.Stat(loud.Stdout)
	require.NoError(t, err)
	require.EqualValues(t, 300000, fi.Size())
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.Equal(t, "err\n", readFile(t, loud.Stderr))

	again := shSpec(t, "again", "exit 0")
	again.Stdout, again.Stderr = loud.Stdout, loud.Stderr
	start(t, e, again)
	require.Equal(t, 0, wait(t, e, again.ID).ExitCode)
	require.Empty(t, readFile(t, loud.Stdout), "an existing file is truncated at the start")
}

// TestOutputHeldOpen: a process that left the task's group and holds its
// output open does not hold up the exit for more than a moment.
func TestOutputHeldOpen(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not found")
	}
	e := process.New(process.Config{})
	s := shSpec(t, "t", "setsid sh -c 'echo daemon; sleep 3' & sleep 0.1; echo leader")
	start(t, e, s)
	begin := time.Now()
	x := wait(t, e, s.ID)
	require.Equal(t, 0, x.ExitCode)
	require.Less(t, time.Since(begin), 2500*time.Millisecond)
	require.Eventually(t, func() bool { return readFile(t, s.Stdout) == "daemon\nleader\n" }, 5*time.Second, 20*time.Millisecond)
}

func TestUsage(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	// About 300ms of shell arithmetic.
	s := shSpec(t, "t", `i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done`)
	start(t, e, s)
	x := wait(t, e, s.ID)
	require.Equal(t, 0, x.ExitCode)
	require.Greater(t, x.CPUTime, 100*time.Millisecond)
	require.Greater(t, x.MaxRSS, int64(100<<10))
}

func TestWaitMany(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", "sleep 0.2; exit 4")
	start(t, e, s)

	var chans []<-chan *executor.Exit
	for range 3 {
		ch, err := e.Wait(t.Context(), s.ID)
		require.NoError(t, err)
		chans = append(chans, ch)
	}
	ctx, cancel := context.WithCancel(t.Context())
	canceled, err := e.Wait(ctx, s.ID)
	require.NoError(t, err)
	cancel()
	_, ok := <-canceled
	require.False(t, ok, "a canceled Wait closes without a value")

	for _, ch := range chans {
		x, ok := <-ch
		require.True(t, ok)
		require.Equal(t, 4, x.ExitCode)
		_, ok = <-ch
		require.False(t, ok, "the channel closes after the exit")
	}
	// After the end, too.
	require.Equal(t, 4, wait(t, e, s.ID).ExitCode)

	_, err = e.Wait(t.Context(), "nosuch")
	require.ErrorIs(t, err, executor.ErrNotFound)
}

func TestDestroy(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", "exec sleep 1000")
	h, err := e.Start(t.Context(), s)
	require.NoError(t, err)

	err = e.Destroy(t.Context(), s.ID, false)
	require.ErrorIs(t, err, process.ErrStillRunning)
	require.ErrorIs(t, err, executor.ErrNotRunning)
	require.Contains(t, err.Error(), "task is still running")

	require.NoError(t, e.Destroy(t.Context(), s.ID, true))
	_, err = e.Inspect(t.Context(), s.ID)
	require.ErrorIs(t, err, executor.ErrNotFound)
	require.Contains(t, []byte{0, 'Z'}, procState(t, h.Ident.PID))
	require.ErrorIs(t, e.Destroy(t.Context(), s.ID, false), executor.ErrNotFound)

	// An ended task is forgotten without force, and its ID is free again.
	s = shSpec(t, "t", "true")
	_, err = e.Start(t.Context(), s)
	require.NoError(t, err)
	wait(t, e, s.ID)
	require.NoError(t, e.Destroy(t.Context(), s.ID, false))
	start(t, e, s)
}

func TestStragglersKilled(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	s := shSpec(t, "t", "sleep 1000 & echo $! > child; exit 0")
	start(t, e, s)
	require.Equal(t, 0, wait(t, e, s.ID).ExitCode)
	child := readPID(t, filepath.Join(s.WorkDir, "child"))
	// SIGKILL went out before the exit was reported and takes effect at
	// once; the orphan may stay a zombie until its new parent reaps it.
	require.Eventually(t, func() bool { return slices.Contains([]byte{0, 'Z'}, procState(t, child)) },
		time.Second, time.Millisecond)
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	e := process.New(process.Config{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			s := shSpec(t, "t"+strings.Repeat("x", i), "sleep 1") // long enough to be running when suspended, under load too
			_, err := e.Start(t.Context(), s)
			if !assertNoError(t, err) {
				return
			}
			_, err = e.Inspect(t.Context(), s.ID)
			assertNoError(t, err)
			if i%2 == 0 {
				assertNoError(t, e.Suspend(t.Context(), s.ID))
				assertNoError(t, e.Resume(t.Context(), s.ID))
			}
			ch, err := e.Wait(t.Context(), s.ID)
			assertNoError(t, err)
			if x := <-ch; x == nil || x.ExitCode != 0 {
				t.Errorf("exit %+v", x)
			}
			assertNoError(t, e.Destroy(t.Context(), s.ID, false))
		})
	}
	wg.Wait()
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}
