package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	"github.com/moby/moby/api/types/mount"
	"github.com/stretchr/testify/require"
)

// TestStageIn checks that stage-in paths are bind mounts, read-only unless
// rw, and that a missing host path fails the start.
func TestStageIn(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	ctx := context.Background()
	in, rw := filepath.Join(tb.dir, "in"), filepath.Join(tb.dir, "rw")
	require.NoError(t, os.MkdirAll(in, 0o755))
	require.NoError(t, os.MkdirAll(rw, 0o777))
	require.NoError(t, os.WriteFile(filepath.Join(in, "f"), []byte("input\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(tb.dir, "single"), []byte("one file\n"), 0o644))
	s := tb.spec("stagein", nil, "sh", "-c",
		"cat /data/in/f /single; touch /data/in/new 2>/dev/null || echo read-only; echo written > /data/rw/out")
	s.Container.Mounts = []job.Mount{
		{Host: in, Container: "/data/in"},
		{Host: rw, Container: "/data/rw", RW: true},
		{Host: filepath.Join(tb.dir, "single"), Container: "/single"},
	}
	h := tb.start(t, s)
	x := tb.wait(t, "stagein", 20*time.Second)
	require.Equal(t, 0, x.ExitCode, readFile(t, s.Stderr))
	require.Equal(t, "input\none file\nread-only\n", readFile(t, s.Stdout))
	require.Equal(t, "written\n", readFile(t, filepath.Join(rw, "out")))
	res, err := tb.cli.ContainerInspect(ctx, h.Ident.ContainerID, clientInspect)
	require.NoError(t, err)
	require.Equal(t, []mount.Mount{
		{Type: mount.TypeBind, Source: in, Target: "/data/in", ReadOnly: true},
		{Type: mount.TypeBind, Source: rw, Target: "/data/rw"},
		{Type: mount.TypeBind, Source: filepath.Join(tb.dir, "single"), Target: "/single", ReadOnly: true},
	}, res.Container.HostConfig.Mounts)
	require.NoError(t, tb.exec.Destroy(ctx, "stagein", false))

	s = tb.spec("nohost", nil, "true")
	s.Container.Mounts = []job.Mount{{Host: filepath.Join(tb.dir, "missing"), Container: "/x"}}
	_, err = tb.exec.Start(ctx, s)
	require.ErrorIs(t, err, executor.ErrStartFailed)
	require.Contains(t, err.Error(), "missing")
}

// TestStageOut checks that stage-out files and directories arrive on the
// host after the container ended, also when it failed; that a symbolic link
// in the container is copied as a link, not followed; and that a path the
// container lacks is reported in CopyErr.
func TestStageOut(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	ctx := context.Background()
	res := filepath.Join(tb.dir, "results")
	s := tb.spec("stageout", nil, "sh", "-c",
		"mkdir -p /out/sub && echo a > /out/a && echo b > /out/sub/b && ln -s /etc/passwd /out/link && echo r > /report.txt; exit 3")
	s.Container.StageOut = []job.Mount{
		{Container: "/out", Host: filepath.Join(res, "out")},
		{Container: "/report.txt", Host: filepath.Join(res, "deep", "report.txt")},
	}
	tb.start(t, s)
	x := tb.wait(t, "stageout", 20*time.Second)
	require.Equal(t, 3, x.ExitCode)
	require.NoError(t, x.CopyErr)
	require.Equal(t, "a\n", readFile(t, filepath.Join(res, "out", "a")))
	require.Equal(t, "b\n", readFile(t, filepath.Join(res, "out", "sub", "b")))
	require.Equal(t, "r\n", readFile(t, filepath.Join(res, "deep", "report.txt")))
	link, err := os.Readlink(filepath.Join(res, "out", "link"))
	require.NoError(t, err)
	require.Equal(t, "/etc/passwd", link)
	require.NoError(t, tb.exec.Destroy(ctx, "stageout", false))

	s = tb.spec("nopath", nil, "true")
	s.Container.StageOut = []job.Mount{{Container: "/no/such/file", Host: filepath.Join(res, "none")}}
	tb.start(t, s)
	x = tb.wait(t, "nopath", 20*time.Second)
	require.Equal(t, 0, x.ExitCode)
	require.ErrorContains(t, x.CopyErr, "stage_out[0] /no/such/file")
	require.NoError(t, tb.exec.Destroy(ctx, "nopath", false))
}

// TestOutputPaths checks that the output and error paths receive stdout and
// stderr, demultiplexed, when the task ends, and both in turn when they are
// the same file.
func TestOutputPaths(t *testing.T) {
	t.Parallel()
	tb := setup(t, Config{})
	ctx := context.Background()
	s := tb.spec("paths", nil, "sh", "-c", "echo out1; echo err1 >&2; echo out2; echo err2 >&2; exit 4")
	s.OutputPath = filepath.Join(tb.dir, "copies", "job.out")
	s.ErrorPath = filepath.Join(tb.dir, "copies", "job.err")
	tb.start(t, s)
	x := tb.wait(t, "paths", 20*time.Second)
	require.Equal(t, 4, x.ExitCode)
	require.NoError(t, x.CopyErr)
	require.Equal(t, "out1\nout2\n", readFile(t, s.OutputPath))
	require.Equal(t, "err1\nerr2\n", readFile(t, s.ErrorPath))
	require.Equal(t, "out1\nout2\n", readFile(t, s.Stdout), "berth keeps its own copy")
	require.NoError(t, tb.exec.Destroy(ctx, "paths", false))

	s = tb.spec("joined", nil, "sh", "-c", "echo out; echo err >&2")
	s.OutputPath = filepath.Join(tb.dir, "joined.txt")
	s.ErrorPath = s.OutputPath
	tb.start(t, s)
	require.Equal(t, 0, tb.wait(t, "joined", 20*time.Second).ExitCode)
	require.Equal(t, "out\nerr\n", readFile(t, s.OutputPath))
	require.NoError(t, tb.exec.Destroy(ctx, "joined", false))
}

// tarOf builds an archive of the given entries.
func tarOf(t *testing.T, entries ...*tar.Header) *bytes.Buffer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range entries {
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Linkname)) // the content, for brevity
			content := h.Linkname
			h.Linkname = ""
			require.NoError(t, tw.WriteHeader(h))
			_, err := tw.Write([]byte(content))
			require.NoError(t, err)
			continue
		}
		require.NoError(t, tw.WriteHeader(h))
	}
	require.NoError(t, tw.Close())
	return &b
}

// TestExtractArchive checks that archives from a container cannot write
// outside the target: no absolute or ".." names, no writing through a
// symbolic link, and the size bound.
func TestExtractArchive(t *testing.T) {
	t.Parallel()
	dir := func(name string) *tar.Header { return &tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755} }
	file := func(name, content string) *tar.Header {
		return &tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Linkname: content}
	}
	link := func(name, target string) *tar.Header {
		return &tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target}
	}
	big := int64(1 << 20)

	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	require.NoError(t, os.WriteFile(outside, []byte("keep"), 0o644))
	dst := filepath.Join(base, "dst")
	require.NoError(t, extractArchive(tarOf(t, dir("out/"), file("out/a", "A"), dir("out/d/"), file("out/d/b", "B")), true, dst, &big))
	require.Equal(t, "A", readFile(t, filepath.Join(dst, "a")))
	require.Equal(t, "B", readFile(t, filepath.Join(dst, "d", "b")))
	require.Equal(t, int64(1<<20-2), big)

	for name, archive := range map[string]*bytes.Buffer{
		"dotdot":       tarOf(t, dir("out/"), file("out/../../outside", "X")),
		"absolute":     tarOf(t, file("/outside", "X")),
		"other top":    tarOf(t, dir("out/"), file("other/x", "X")),
		"through link": tarOf(t, dir("out/"), link("out/l", "../../outside"), file("out/l/x", "X")),
		"abs link":     tarOf(t, dir("out/"), link("out/l", base), file("out/l/outside", "X")),
	} {
		budget := big
		err := extractArchive(archive, true, filepath.Join(base, "t-"+name), &budget)
		require.Error(t, err, name)
		require.Equal(t, "keep", readFile(t, outside), name)
	}
	// A link replaced by a file is not written through.
	budget := big
	require.NoError(t, extractArchive(tarOf(t, dir("out/"), link("out/l", outside), file("out/l", "X")), true, filepath.Join(base, "t-replace"), &budget))
	require.Equal(t, "keep", readFile(t, outside))
	require.Equal(t, "X", readFile(t, filepath.Join(base, "t-replace", "l")))

	small := int64(3)
	err := extractArchive(tarOf(t, dir("out/"), file("out/a", "AB"), file("out/b", "CD")), true, filepath.Join(base, "t-big"), &small)
	require.ErrorIs(t, err, errTooBig)
	small = 1
	err = extractArchive(tarOf(t, file("f", "AB")), false, filepath.Join(base, "t-bigfile"), &small)
	require.ErrorIs(t, err, errTooBig)
}
