package docker

import (
	"context"
	"fmt"

	"github.com/berth-run/berth/executor"
	cerrdefs "github.com/containerd/errdefs"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/moby/moby/client"
)

// Kinds of image errors, at the start of Start's message.
const (
	// ImageNotFound: the image is not on the engine and the pull policy is
	// never.
	ImageNotFound = "IMAGE_NOT_FOUND"
	// PullFailed: the pull the policy asked for failed.
	PullFailed = "PULL_FAILED"
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
			return fmt.Errorf("%w: %s: image %q is not on the engine and the pull policy is never", executor.ErrStartFailed, ImageNotFound, image)
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
		return fmt.Errorf("%w: %s: pulling image %q: %w", executor.ErrStartFailed, PullFailed, image, err)
	}
	return nil
}
