package platform

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/caddy-paas/caddy-paas/containers"
)

// MaxLogTail bounds how many past lines a log request may ask for.
const MaxLogTail = 10_000

// AppLogs copies the output of an app's running replicas of its current
// deployment to w, each line prefixed with its replica ("[abc123def456] "),
// and with follow keeps streaming until ctx ends. flush is called after
// each line.
func (e *Engine) AppLogs(ctx context.Context, name string, opts containers.LogOptions, w io.Writer, flush func()) error {
	if err := ValidateAppName(name); err != nil {
		return notFound("app %q not found", truncate(name, 80))
	}
	if opts.Tail < 0 || opts.Tail > MaxLogTail {
		return invalid("tail must be between 0 and %d", MaxLogTail)
	}
	a, err := e.store.GetApp(name)
	if err != nil {
		return err
	}
	list, err := e.rt.List(ctx, e.labels(map[string]string{containers.LabelApp: name}))
	if err != nil {
		return fmt.Errorf("listing replicas of %s: %w", name, err)
	}
	var live []containers.Container
	for _, c := range list {
		if c.Running && (a.Current == "" || c.Labels[containers.LabelDeployment] == a.Current) {
			live = append(live, c)
		}
	}
	if len(live) == 0 {
		return conflict("app %q has no running replica", name)
	}
	sort.Slice(live, func(i, j int) bool { return live[i].ID < live[j].ID })
	out := &lockedWriter{w: w, flush: flush}
	var wg sync.WaitGroup
	errs := make([]error, len(live))
	for i, c := range live {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lw := &prefixWriter{prefix: "[" + short(c.ID) + "] ", out: out}
			errs[i] = e.rt.Logs(ctx, c.ID, opts, lw)
			lw.finish()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// lockedWriter lets replicas' streams write whole lines, one at a time.
type lockedWriter struct {
	mu    sync.Mutex
	w     io.Writer
	flush func()
}

func (l *lockedWriter) writeLine(b []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, err := l.w.Write(b); err != nil {
		return err
	}
	if l.flush != nil {
		l.flush()
	}
	return nil
}

// prefixWriter cuts a stream into lines and writes each with a prefix.
type prefixWriter struct {
	prefix  string
	out     *lockedWriter
	partial []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.partial = append(p.partial, b...)
	for {
		i := bytes.IndexByte(p.partial, '\n')
		if i < 0 {
			break
		}
		line := append([]byte(p.prefix), p.partial[:i+1]...)
		if err := p.out.writeLine(line); err != nil {
			return 0, err
		}
		p.partial = p.partial[i+1:]
	}
	return len(b), nil
}

func (p *prefixWriter) finish() {
	if len(p.partial) > 0 {
		_ = p.out.writeLine(append(append([]byte(p.prefix), p.partial...), '\n'))
		p.partial = nil
	}
}

// RestartApp replaces the app's replicas with new ones of the current
// version, blue-green, with no rebuild.
func (e *Engine) RestartApp(ctx context.Context, name string) (*Deployment, error) {
	a, err := e.store.GetApp(name)
	if err != nil {
		return nil, err
	}
	if a.Current == "" {
		return nil, conflict("app %q has never been deployed", name)
	}
	if a.Stopped {
		return nil, conflict("app %q is stopped: start it instead", name)
	}
	return e.Rollback(ctx, name, a.Current)
}

// ScaleApp sets the number of replicas (a blue-green deploy of the new
// count).
func (e *Engine) ScaleApp(ctx context.Context, name string, replicas int) (*AppView, error) {
	return e.UpdateApp(ctx, name, AppPatch{Replicas: &replicas})
}
