package containers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
)

// LabelImageApp marks images the platform built, with the app's name.
const LabelImageApp = "paas.app"

// BuildSpec describes an image build from a tar context.
type BuildSpec struct {
	// Tag names the image, such as paas/blog:abc123.
	Tag string
	// Dockerfile is the path of the Dockerfile inside the context.
	Dockerfile string
	// Target is the stage to build; empty builds the last.
	Target string
	// Args are build arguments (ARG values).
	Args map[string]string
	// Labels are put on the image.
	Labels map[string]string
}

// ErrBuildFailed wraps the error a Dockerfile step reported.
var ErrBuildFailed = errors.New("build failed")

// BuildImage builds an image from the tar stream contextTar with the
// classic builder (it needs no BuildKit session and pulls nothing that is
// present), writing the build's output to log as it comes.
func (d *Docker) BuildImage(ctx context.Context, contextTar io.Reader, spec BuildSpec, log io.Writer) (string, error) {
	d.negotiate(ctx)
	args := make(map[string]*string, len(spec.Args))
	for k, v := range spec.Args {
		v := v
		args[k] = &v
	}
	resp, err := d.cli.ImageBuild(ctx, contextTar, build.ImageBuildOptions{
		Tags:        []string{spec.Tag},
		Dockerfile:  spec.Dockerfile,
		Target:      spec.Target,
		BuildArgs:   args,
		Labels:      spec.Labels,
		Remove:      true,
		ForceRemove: true,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return "", fmt.Errorf("starting the build: %w", err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var id string
	for {
		var msg struct {
			Stream      string `json:"stream"`
			Status      string `json:"status"`
			Progress    string `json:"progress"`
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
			Aux *struct {
				ID string `json:"ID"`
			} `json:"aux"`
		}
		if err := dec.Decode(&msg); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			if ctx.Err() != nil {
				return "", fmt.Errorf("build canceled: %w", ctx.Err())
			}
			return "", fmt.Errorf("reading the build output: %w", err)
		}
		switch {
		case msg.Error != "":
			fmt.Fprintln(log, msg.Error)
			return "", fmt.Errorf("%w: %s", ErrBuildFailed, strings.TrimSpace(msg.Error))
		case msg.Stream != "":
			io.WriteString(log, msg.Stream)
		case msg.Status != "":
			fmt.Fprintln(log, strings.TrimSpace(msg.Status+" "+msg.Progress))
		}
		if msg.Aux != nil && msg.Aux.ID != "" {
			id = msg.Aux.ID
		}
	}
	if ctx.Err() != nil {
		return "", fmt.Errorf("build canceled: %w", ctx.Err())
	}
	info, err := d.InspectImage(ctx, spec.Tag)
	if err != nil {
		return "", fmt.Errorf("inspecting the built image: %w", err)
	}
	if id == "" {
		id = info.ID
	}
	return id, nil
}

// ImageTags lists the tags of images labeled for app, newest first.
func (d *Docker) ImageTags(ctx context.Context, app string) ([]string, error) {
	d.negotiate(ctx)
	list, err := d.cli.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("label", LabelImageApp+"="+app))})
	if err != nil {
		return nil, fmt.Errorf("listing images of %s: %w", app, err)
	}
	// Newest first: the engine answers in no set order.
	for i := 1; i < len(list); i++ {
		for j := i; j > 0 && list[j].Created > list[j-1].Created; j-- {
			list[j], list[j-1] = list[j-1], list[j]
		}
	}
	var tags []string
	for _, img := range list {
		tags = append(tags, img.RepoTags...)
	}
	return tags, nil
}

// RemoveImage removes an image by tag; a missing image or one still used
// by a container is not an error.
func (d *Docker) RemoveImage(ctx context.Context, ref string) error {
	d.negotiate(ctx)
	_, err := d.cli.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
	if err != nil && !strings.Contains(err.Error(), "No such image") && !strings.Contains(err.Error(), "conflict") {
		return fmt.Errorf("removing image %s: %w", ref, err)
	}
	return nil
}
