package docker

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/berth-run/berth/executor"
	"github.com/berth-run/berth/job"
	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// Files copied to the host at a task's end
//
// When a container has stopped for good, and before its exit is reported
// (so before anyone removes the container), the executor copies:
//
//   - the task's stdout and stderr files to the template's OutputPath and
//     ErrorPath (the same path gets stdout, then stderr);
//   - each StageOut entry, from the container (the engine's archive of the
//     path, CopyFromContainer) to the host: a file to the file Host, a
//     directory to the directory Host (created, or merged into).
//
// The archive comes from the container, so it is not trusted: entries with
// absolute names or ".." are refused, everything is written through an
// os.Root at the target (symbolic links in the archive are recreated but
// never followed out of it), hard links, devices and FIFOs are skipped, and
// the whole copy is bounded by Config.StageOutLimit bytes. A failure of any
// copy is reported in Exit.CopyErr; the task still ends as it did.
//
// What to copy is kept in the container's labels, so that a Recover in a
// new executor copies it too.

// Labels of what to copy at the end.
const (
	LabelOutputPath = "berth.output_path"
	LabelErrorPath  = "berth.error_path"
	// LabelStageOut holds the stage-out entries, as JSON.
	LabelStageOut = "berth.stage_out"
)

// StageOutLimitDefault is the default of Config.StageOutLimit: 1 GiB.
const StageOutLimitDefault int64 = 1 << 30

// maxStageOutEntries bounds the entries of one stage-out archive.
const maxStageOutEntries = 100_000

var errTooBig = errors.New("the stage-out files exceed the executor's StageOutLimit")

// copySpec is what a task copies to the host at its end.
type copySpec struct {
	Stdout, Stderr        string // the task's output files
	OutputPath, ErrorPath string
	StageOut              []job.Mount
	// limit bounds the bytes of all stage-out files.
	limit int64
}

// setCopyLabels records the spec's copies in labels.
func setCopyLabels(labels map[string]string, s *executor.Spec) error {
	if s.OutputPath != "" {
		labels[LabelOutputPath] = s.OutputPath
	}
	if s.ErrorPath != "" {
		labels[LabelErrorPath] = s.ErrorPath
	}
	if so := s.Container.StageOut; len(so) > 0 {
		for i, m := range so {
			if !path.IsAbs(m.Container) || !filepath.IsAbs(m.Host) {
				return fmt.Errorf("stage_out[%d]: want absolute paths, not %q and %q", i, m.Container, m.Host)
			}
		}
		b, err := json.Marshal(so)
		if err != nil {
			return err
		}
		labels[LabelStageOut] = string(b)
	}
	return nil
}

// copySpecOf reads what to copy from a container's labels.
func copySpecOf(labels map[string]string, limit int64) (copySpec, error) {
	c := copySpec{
		Stdout: labels[LabelStdout], Stderr: labels[LabelStderr],
		OutputPath: labels[LabelOutputPath], ErrorPath: labels[LabelErrorPath], limit: limit,
	}
	if v := labels[LabelStageOut]; v != "" {
		if err := json.Unmarshal([]byte(v), &c.StageOut); err != nil {
			return c, fmt.Errorf("label %s: %w", LabelStageOut, err)
		}
	}
	return c, nil
}

// copyOut copies the output files and the stage-out entries to the host,
// and returns what failed.
func (t *task) copyOut(ctx context.Context) error {
	c := &t.copies
	var errs []error
	if c.OutputPath != "" || c.ErrorPath != "" {
		errs = append(errs, executor.CopyOutputs(c.Stdout, c.Stderr, c.OutputPath, c.ErrorPath))
	}
	budget := c.limit
	for i, m := range c.StageOut {
		if err := t.stageOut(ctx, m, &budget); err != nil {
			errs = append(errs, fmt.Errorf("stage_out[%d] %s → %s: %w", i, m.Container, m.Host, err))
		}
	}
	return errors.Join(errs...)
}

// stageOut copies one stage-out entry from the container to the host.
func (t *task) stageOut(ctx context.Context, m job.Mount, budget *int64) error {
	res, err := t.e.cli.CopyFromContainer(ctx, t.containerID, client.CopyFromContainerOptions{SourcePath: m.Container})
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("not in the container: %w", err)
		}
		return err
	}
	defer res.Content.Close()
	return extractArchive(res.Content, res.Stat.Mode.IsDir(), m.Host, budget)
}

// extractArchive writes the archive r of one container path (its entries
// are named after the path's base name) to dst: if dir, the directory's
// contents into the directory dst, else its one file to the file dst. It
// writes at most *budget bytes of file contents, and takes what it wrote
// off *budget.
func extractArchive(r io.Reader, dir bool, dst string, budget *int64) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tr := tar.NewReader(r)
	if !dir {
		return extractFile(tr, dst, budget)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dst)
	if err != nil {
		return err
	}
	defer root.Close()
	var top string
	for n := 0; ; n++ {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the archive: %w", err)
		}
		if n >= maxStageOutEntries {
			return fmt.Errorf("more than %d entries", maxStageOutEntries)
		}
		name, err := entryName(h.Name)
		if err != nil {
			return err
		}
		first, rest, _ := strings.Cut(name, "/")
		if n == 0 {
			top = first
		} else if first != top {
			return fmt.Errorf("archive entry %q is not under %q", h.Name, top)
		}
		if rest == "" {
			continue // the directory itself: dst
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(rest, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if h.Size > *budget {
				return errTooBig
			}
			if err := replaceable(root, rest); err != nil {
				return err
			}
			f, err := root.OpenFile(rest, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, h.FileInfo().Mode().Perm()|0o600)
			if err != nil {
				return err
			}
			m, err := io.CopyN(f, tr, h.Size)
			*budget -= m
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", rest, err)
			}
		case tar.TypeSymlink:
			if err := replaceable(root, rest); err != nil {
				return err
			}
			if err := root.Symlink(h.Linkname, rest); err != nil {
				return err
			}
		default:
			// Hard links, devices, FIFOs: not copied.
		}
	}
}

// extractFile writes the single regular file of the archive to dst.
func extractFile(tr *tar.Reader, dst string, budget *int64) error {
	h, err := tr.Next()
	if err != nil {
		return fmt.Errorf("reading the archive: %w", err)
	}
	if _, err := entryName(h.Name); err != nil {
		return err
	}
	if h.Typeflag != tar.TypeReg {
		return fmt.Errorf("%q is not a regular file or directory", h.Name)
	}
	if h.Size > *budget {
		return errTooBig
	}
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, h.FileInfo().Mode().Perm()|0o600)
	if err != nil {
		return err
	}
	m, err := io.CopyN(f, tr, h.Size)
	*budget -= m
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// entryName checks an archive entry's name: relative, without "..".
func entryName(name string) (string, error) {
	clean := path.Clean(strings.TrimSuffix(name, "/"))
	if name == "" || path.IsAbs(name) || clean == ".." || strings.HasPrefix(clean, "../") || strings.Contains(name, "\x00") {
		return "", fmt.Errorf("archive entry %q: not a relative path inside the copied path", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("archive entry %q: not a relative path inside the copied path", name)
		}
	}
	return clean, nil
}

// replaceable removes name if it is a symbolic link, so that writing name
// does not write where the link points.
func replaceable(root *os.Root, name string) error {
	fi, err := root.Lstat(name)
	if err == nil && fi.Mode()&os.ModeSymlink != 0 {
		return root.Remove(name)
	}
	return nil
}
