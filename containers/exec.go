package containers

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"
)

// ExecSession is a command running in a container with a TTY: its stream
// carries the terminal's input and output.
type ExecSession struct {
	// Stream is the TTY: writes are keystrokes, reads are the screen.
	Stream io.ReadWriteCloser
	// Resize sets the TTY's size.
	Resize func(ctx context.Context, cols, rows uint) error
}

// Exec runs cmd (an argument array, never a shell string) in a running
// container with a TTY, as the container's own user, unprivileged.
func (d *Docker) Exec(ctx context.Context, id string, cmd []string) (*ExecSession, error) {
	created, err := d.cli.ContainerExecCreate(ctx, id, container.ExecOptions{
		Cmd: cmd, Tty: true, AttachStdin: true, AttachStdout: true, AttachStderr: true,
		Env: []string{"TERM=xterm-256color"},
	})
	if err != nil {
		return nil, fmt.Errorf("creating exec in container %s: %w", shortID(id), err)
	}
	hijacked, err := d.cli.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{Tty: true})
	if err != nil {
		return nil, fmt.Errorf("attaching to exec in container %s: %w", shortID(id), err)
	}
	execID := created.ID
	return &ExecSession{
		Stream: hijackedStream{r: hijacked.Reader, closeFn: func() error { hijacked.Close(); return nil }, w: hijacked.Conn},
		Resize: func(ctx context.Context, cols, rows uint) error {
			return d.cli.ContainerExecResize(ctx, execID, container.ResizeOptions{Width: cols, Height: rows})
		},
	}, nil
}

// hijackedStream reads through the hijacked connection's buffer and writes
// to the connection.
type hijackedStream struct {
	r       io.Reader
	w       io.Writer
	closeFn func() error
}

func (h hijackedStream) Read(p []byte) (int, error)  { return h.r.Read(p) }
func (h hijackedStream) Write(p []byte) (int, error) { return h.w.Write(p) }
func (h hijackedStream) Close() error                { return h.closeFn() }
