package worker

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/berth-run/berth/dispatch"
	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
)

// TestSpecContainer: a container job's spec carries its container typed
// (executor.ContainerOf, with the results file mounted), the template's
// working directory (a path in the container) and its output paths; a bad
// extension fails naming it.
func TestSpecContainer(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := &Worker{}
	work := &dispatch.Work{
		TaskKey: dispatch.TaskKey{Job: 1, Index: 0, Attempt: 1}, Dir: dir,
		Template: job.Template{Command: "pwd", Image: "img:1", WorkDir: "/srv", OutputPath: "/out/o.txt",
			Extensions: map[string]string{"memory": "64m"}},
	}
	s, err := w.spec(work)
	require.NoError(t, err)
	require.Equal(t, "/srv", s.WorkDir)
	require.Equal(t, "/out/o.txt", s.OutputPath)
	require.NotNil(t, s.Container)
	require.Equal(t, "img:1", s.Container.Image)
	require.Equal(t, int64(64<<20), s.Container.Memory)
	require.Equal(t, []job.Mount{{Host: filepath.Join(dir, "result.jsonl"), Container: containerResult, RW: true}}, s.Container.Mounts)

	work.Template.WorkDir = ""
	s, err = w.spec(work)
	require.NoError(t, err)
	require.Empty(t, s.WorkDir, "the image's working directory")

	work.Template.Extensions = map[string]string{"memory": "lots"}
	_, err = w.spec(work)
	require.ErrorIs(t, err, executor.ErrStartFailed)
	require.ErrorContains(t, err, `extension "memory"`)

	// A process job runs in its task directory, on the host.
	work.Template = job.Template{Command: "pwd"}
	s, err = w.spec(work)
	require.NoError(t, err)
	require.Nil(t, s.Container)
	require.Equal(t, dir, s.WorkDir)
}
