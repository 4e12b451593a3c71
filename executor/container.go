package executor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/berth-run/berth/job"
)

// ContainerSpec is the container a task runs in (Spec.Container): what the
// container executor reads, typed, so that it parses nothing itself.
type ContainerSpec struct {
	// Image is the image reference; required.
	Image string
	// Mounts bind paths of the engine's host into the container, read-only
	// unless RW (a template's stage_in).
	Mounts []job.Mount
	// StageOut lists paths copied from the container to the engine's host
	// once the task has stopped for good (a template's stage_out).
	StageOut []job.Mount
	// ContainerSettings are the settings beyond these (user, limits,
	// network, ports, restart policy, pull policy...), as the template's
	// extensions give them (job.ParseContainerExtensions); their zero
	// values leave the engine's defaults.
	job.ContainerSettings
}

// ContainerOf returns the ContainerSpec of a template that names an image,
// nil for one that names none. This is the one place a template's
// container fields and extensions become a container's settings (the
// mapping is in docs/docker.md). Errors wrap ErrStartFailed and name the
// field or extension at fault.
func ContainerOf(t *job.Template) (*ContainerSpec, error) {
	if t.Image == "" {
		return nil, nil
	}
	set, err := job.ParseContainerExtensions(t.Extensions, "")
	if err != nil {
		var fe *job.FieldError
		if errors.As(err, &fe) {
			key := strings.TrimPrefix(fe.Field, "extensions.")
			return nil, fmt.Errorf("%w: extension %q: %s", ErrStartFailed, key, fe.Reason)
		}
		return nil, fmt.Errorf("%w: %w", ErrStartFailed, err)
	}
	return &ContainerSpec{Image: t.Image, Mounts: t.StageIn, StageOut: t.StageOut, ContainerSettings: *set}, nil
}
