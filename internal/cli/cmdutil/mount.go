package cmdutil

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/berth-run/berth/job"
)

// MountValue is the pflag.Value of --mount HOST:CONTAINER[:ro|rw] or, with
// Out, of --stage-out CONTAINER:HOST; a relative host path is taken from
// the current directory.
type MountValue struct {
	P   *[]job.Mount
	Out bool
}

func (v *MountValue) Set(s string) error {
	parts := strings.Split(s, ":")
	var m job.Mount
	switch {
	case v.Out && len(parts) == 2:
		m = job.Mount{Container: parts[0], Host: parts[1]}
	case v.Out:
		return fmt.Errorf("want CONTAINER:HOST, not %q", s)
	case len(parts) == 2 || len(parts) == 3:
		m = job.Mount{Host: parts[0], Container: parts[1]}
		if len(parts) == 3 {
			switch parts[2] {
			case "ro":
			case "rw":
				m.RW = true
			default:
				return fmt.Errorf("want ro or rw after the container path, not %q", parts[2])
			}
		}
	default:
		return fmt.Errorf("want HOST:CONTAINER[:ro|rw], not %q", s)
	}
	if m.Host == "" || m.Container == "" {
		return fmt.Errorf("empty path in %q", s)
	}
	if !strings.HasPrefix(m.Container, "/") {
		return fmt.Errorf("the container path %q is not absolute", m.Container)
	}
	if !filepath.IsAbs(m.Host) {
		abs, err := filepath.Abs(m.Host)
		if err != nil {
			return err
		}
		m.Host = abs
	}
	*v.P = append(*v.P, m)
	return nil
}

func (v *MountValue) String() string { return "" }

func (v *MountValue) Type() string {
	if v.Out {
		return "CONTAINER:HOST"
	}
	return "HOST:CONTAINER"
}
