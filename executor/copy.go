package executor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// CopyOutputs copies a task's stdout file to outputPath and its stderr file
// to errorPath (a template's OutputPath and ErrorPath), each when set; when
// both name the same file, it gets stdout, then stderr. A missing source
// file copies as empty.
func CopyOutputs(stdout, stderr, outputPath, errorPath string) error {
	var errs []error
	if outputPath != "" {
		if err := copyFile(stdout, outputPath, false); err != nil {
			errs = append(errs, fmt.Errorf("output_path: %w", err))
		}
	}
	if errorPath != "" {
		if err := copyFile(stderr, errorPath, errorPath == outputPath); err != nil {
			errs = append(errs, fmt.Errorf("error_path: %w", err))
		}
	}
	return errors.Join(errs...)
}

// copyFile copies the file src (none: empty) to dst, creating dst's
// directory; appendTo appends instead of replacing.
func copyFile(src, dst string, appendTo bool) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if appendTo {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	out, err := os.OpenFile(dst, flags, 0o644)
	if err != nil {
		return err
	}
	if src != "" {
		in, err := os.Open(src)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			out.Close()
			return err
		}
		if err == nil {
			_, err = io.Copy(out, in)
			in.Close()
			if err != nil {
				out.Close()
				return err
			}
		}
	}
	return out.Close()
}
