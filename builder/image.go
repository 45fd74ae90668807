// Package builder turns a deploy's source into an image the engine can run:
// an image reference (Resolve: a local image as it is, anything else
// pulled), or a source tree from git or an upload built through the Docker
// API (build.go, context.go), with a Dockerfile of its own or one generated
// by builder/detect; repoconfig.go reads the repository's paas.json.
package builder

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddy-paas/caddy-paas/containers"
)

// ImageSource is the part of the container runtime the builder needs.
type ImageSource interface {
	InspectImage(ctx context.Context, ref string) (containers.ImageInfo, error)
	PullImage(ctx context.Context, ref string) error
}

// Resolve returns the image for ref: the local one when present (never
// pulled again), otherwise the one a pull brings.
func Resolve(ctx context.Context, src ImageSource, ref string) (containers.ImageInfo, error) {
	info, err := src.InspectImage(ctx, ref)
	if err == nil {
		return info, nil
	}
	if !errors.Is(err, containers.ErrImageNotFound) {
		return containers.ImageInfo{}, err
	}
	if err := src.PullImage(ctx, ref); err != nil {
		return containers.ImageInfo{}, fmt.Errorf("image %s is not present locally and could not be pulled: %w", ref, err)
	}
	info, err = src.InspectImage(ctx, ref)
	if err != nil {
		return containers.ImageInfo{}, fmt.Errorf("image %s is not present after pulling: %w", ref, err)
	}
	return info, nil
}
