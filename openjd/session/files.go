package session

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-run/berth/openjd"
)

// plannedFile is an embedded file with the path it is written to.
type plannedFile struct {
	file openjd.EmbeddedFile
	path string
}

// planFiles chooses the path of each embedded file: its filename in the
// session's files directory, or a random name. prefix is Task.File or
// Env.File; the paths are added to scope under prefix.<name>, so that
// files and actions can refer to them.
func (s *Session) planFiles(files []openjd.EmbeddedFile, prefix string, scope openjd.MapScope) []plannedFile {
	out := make([]plannedFile, 0, len(files))
	for _, f := range files {
		name := f.Filename
		if name == "" {
			name = randomName("")
		}
		p := plannedFile{file: f, path: filepath.Join(s.filesDir, name)}
		scope[prefix+"."+f.Name] = p.path
		out = append(out, p)
	}
	return out
}

func randomName(ext string) string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "file-" + hex.EncodeToString(b[:]) + ext
}

// writeFiles resolves the data of planned files and writes them, readable
// (and runnable if asked) by the owner only. A file is rewritten before
// every action that uses it.
func (s *Session) writeFiles(files []plannedFile, prefix string, scope openjd.Scope) error {
	if len(files) == 0 {
		return nil
	}
	s.phase("Phase: Setup")
	s.logf("Writing embedded files to disk.")
	for _, p := range files {
		data, err := p.file.Data.Resolve(scope)
		if err != nil {
			return fmt.Errorf("embedded file %s: %w", p.file.Name, err)
		}
		data = endOfLine(data, p.file.EndOfLine)
		mode := os.FileMode(0o400)
		if p.file.Runnable {
			mode = 0o500
		}
		if err := writeFile(p.path, []byte(data), mode); err != nil {
			return fmt.Errorf("embedded file %s: %w", p.file.Name, err)
		}
		s.logf("Mapping: %s.%s -> %s", prefix, p.file.Name, p.path)
		s.logf("Wrote: %s -> %s", p.file.Name, p.path)
	}
	return nil
}

// endOfLine applies an embedded file's endOfLine (FEATURE_BUNDLE_1): LF and
// AUTO (on this POSIX host) make every line end in \n, CRLF in \r\n; no
// value leaves the data as written.
func endOfLine(data, eol string) string {
	switch eol {
	case "LF", "AUTO":
		return strings.ReplaceAll(data, "\r\n", "\n")
	case "CRLF":
		return strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\n", "\r\n")
	}
	return data
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	// The previous copy may be read-only; replace it.
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
