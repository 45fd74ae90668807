package platform

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/caddy-paas/caddy-paas/containers"
)

// DefaultShell is what a terminal runs when no command is given.
var DefaultShell = []string{"/bin/sh"}

// Terminal is a TTY in one running replica of an app.
type Terminal struct {
	*containers.ExecSession
	// Replica is the short id of the replica's container.
	Replica string
}

// OpenTerminal starts cmd (an argument array; default /bin/sh) with a TTY
// in a running replica of the app's current deployment: the one whose
// container id starts with replica, or the first one.
func (e *Engine) OpenTerminal(ctx context.Context, name, replica string, cmd []string) (*Terminal, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, notFound("app %q not found", truncate(name, 80))
	}
	if len(cmd) == 0 {
		cmd = DefaultShell
	}
	if len(cmd) > 64 {
		return nil, invalid("a terminal command has at most 64 arguments")
	}
	for _, arg := range cmd {
		if len(arg) > 4096 || strings.ContainsRune(arg, 0) {
			return nil, invalid("a terminal command's arguments are at most 4096 bytes, with no NUL")
		}
	}
	a, err := e.store.GetApp(name)
	if err != nil {
		return nil, err
	}
	list, err := e.rt.List(ctx, e.labels(map[string]string{containers.LabelApp: name}))
	if err != nil {
		return nil, fmt.Errorf("listing replicas of %s: %w", name, err)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	for _, c := range list {
		if !c.Running || (a.Current != "" && c.Labels[containers.LabelDeployment] != a.Current) {
			continue
		}
		if replica != "" && !strings.HasPrefix(c.ID, replica) {
			continue
		}
		s, err := e.rt.Exec(ctx, c.ID, cmd)
		if err != nil {
			return nil, err
		}
		return &Terminal{ExecSession: s, Replica: short(c.ID)}, nil
	}
	if replica != "" {
		return nil, notFound("app %q has no running replica %q", name, truncate(replica, 64))
	}
	return nil, conflict("app %q has no running replica", name)
}
