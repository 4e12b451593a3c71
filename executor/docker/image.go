package docker

import (
	"context"
	"fmt"

	"github.com/berth-run/berth/executor"
	cerrdefs "github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moby/moby/client"
)

// ensureImage makes the image available as the pull policy says: never
// uses the local image only, missing pulls if it is absent, always pulls.
func (e *Executor) ensureImage(ctx context.Context, image string, policy PullPolicy, platform *ocispec.Platform) error {
	if policy != PullAlways {
		_, err := e.cli.ImageInspect(ctx, image)
		switch {
		case err == nil:
			return nil
		case !cerrdefs.IsNotFound(err):
			return fmt.Errorf("%w: inspecting image %q: %w", executor.ErrStartFailed, image, err)
		case policy == PullNever:
			return fmt.Errorf("%w: %w: image %q is not on the engine and the pull policy is never", executor.ErrStartFailed, executor.ErrImageNotFound, image)
		}
	}
	opts := client.ImagePullOptions{}
	if platform != nil {
		opts.Platforms = []ocispec.Platform{*platform}
	}
	e.log.InfoContext(ctx, "pulling image", "image", image)
	resp, err := e.cli.ImagePull(ctx, image, opts)
	if err == nil {
		err = resp.Wait(ctx)
	}
	if err != nil {
		return fmt.Errorf("%w: %w: pulling image %q: %w", executor.ErrStartFailed, executor.ErrPullFailed, image, err)
	}
	return nil
}
