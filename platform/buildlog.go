package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// logStore keeps one log file per deployment (the build and start output
// the user sees) under dir/<app>/<deployment>.log, and lets readers follow
// a log while its deploy runs.
type logStore struct {
	dir string

	mu   sync.Mutex
	live map[string]*liveLog
}

func newLogStore(dir string) *logStore {
	return &logStore{dir: dir, live: map[string]*liveLog{}}
}

func (s *logStore) path(app, id string) string {
	return filepath.Join(s.dir, app, id+".log")
}

// liveLog is the log of a running deploy: writes go to the file and wake
// followers.
type liveLog struct {
	s    *logStore
	key  string
	f    *os.File
	mu   sync.Mutex
	cond *sync.Cond
	size int64
	done bool
}

// exists reports whether a deployment's log has been created.
func (s *logStore) exists(app, id string) bool {
	_, err := os.Stat(s.path(app, id))
	return err == nil
}

// create opens a new log for a deployment.
func (s *logStore) create(app, id string) (*liveLog, error) {
	if s.dir == "" {
		return nil, errors.New("no log directory")
	}
	if err := os.MkdirAll(filepath.Join(s.dir, app), 0o700); err != nil {
		return nil, fmt.Errorf("creating log directory: %w", err)
	}
	f, err := os.OpenFile(s.path(app, id), os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating deployment log: %w", err)
	}
	l := &liveLog{s: s, key: app + "/" + id, f: f}
	l.cond = sync.NewCond(&l.mu)
	s.mu.Lock()
	s.live[l.key] = l
	s.mu.Unlock()
	return l, nil
}

// Write appends to the log.
func (l *liveLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return 0, errors.New("log is closed")
	}
	n, err := l.f.Write(p)
	l.size += int64(n)
	l.cond.Broadcast()
	return n, err
}

// Printf appends a formatted line.
func (l *liveLog) Printf(format string, args ...any) {
	fmt.Fprintf(l, format+"\n", args...)
}

// close ends the log: followers get the rest and stop.
func (l *liveLog) close() {
	l.mu.Lock()
	l.done = true
	_ = l.f.Close()
	l.cond.Broadcast()
	l.mu.Unlock()
	l.s.mu.Lock()
	delete(l.s.live, l.key)
	l.s.mu.Unlock()
}

// follow copies a deployment's log to w: all of it when the deploy is
// over; while it runs, what is there and then what comes, until the deploy
// ends or ctx does. flush is called after each chunk.
func (s *logStore) follow(ctx context.Context, app, id string, w io.Writer, flush func()) error {
	s.mu.Lock()
	l := s.live[app+"/"+id]
	s.mu.Unlock()
	f, err := os.Open(s.path(app, id))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("opening deployment log: %w", err)
	}
	defer f.Close()
	if l == nil {
		_, err := io.Copy(w, f)
		return err
	}
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	var off int64
	buf := make([]byte, 32<<10)
	for {
		l.mu.Lock()
		for off == l.size && !l.done && ctx.Err() == nil {
			l.cond.Wait()
		}
		size, done := l.size, l.done
		l.mu.Unlock()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for off < size {
			n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
			if n > 0 {
				if _, werr := w.Write(buf[:n]); werr != nil {
					return werr
				}
				off += int64(n)
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return err
			}
			if n == 0 {
				break
			}
		}
		if flush != nil {
			flush()
		}
		if done {
			// Read what the last writes left after the size we saw.
			_, err := io.Copy(w, io.NewSectionReader(f, off, 1<<40))
			return err
		}
	}
}

// keepLogs is how many deployment logs are kept per app.
const keepLogs = 50

// prune removes an app's oldest logs beyond keep, never a live one.
func (s *logStore) prune(app string, keep int) {
	if s.dir == "" {
		return
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, app))
	if err != nil || len(entries) <= keep {
		return
	}
	type logFile struct {
		name string
		mod  int64
	}
	files := make([]logFile, 0, len(entries))
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			files = append(files, logFile{e.Name(), info.ModTime().UnixNano()})
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].mod > files[j].mod })
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range files[min(keep, len(files)):] {
		if _, live := s.live[app+"/"+strings.TrimSuffix(f.name, ".log")]; !live {
			_ = os.Remove(filepath.Join(s.dir, app, f.name))
		}
	}
}

// remove deletes an app's logs.
func (s *logStore) removeApp(app string) {
	if s.dir != "" {
		_ = os.RemoveAll(filepath.Join(s.dir, app))
	}
}
