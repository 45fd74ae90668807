package platform

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogFollowLiveThenFinished(t *testing.T) {
	s := newLogStore(t.TempDir())
	l, err := s.create("app", "d1")
	if err != nil {
		t.Fatal(err)
	}
	l.Printf("first")
	var got syncBuffer
	done := make(chan error, 1)
	go func() { done <- s.follow(context.Background(), "app", "d1", &got, nil) }()
	time.Sleep(50 * time.Millisecond)
	l.Printf("second")
	time.Sleep(50 * time.Millisecond)
	if g := got.String(); g != "first\nsecond\n" {
		t.Fatalf("while live, follower has %q", g)
	}
	select {
	case <-done:
		t.Fatal("follow returned while the deploy still runs")
	default:
	}
	l.Printf("third")
	l.close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if g := got.String(); g != "first\nsecond\nthird\n" {
		t.Fatalf("after close, follower has %q", g)
	}
	// A finished log is read whole at once.
	var again bytes.Buffer
	if err := s.follow(context.Background(), "app", "d1", &again, nil); err != nil || again.String() != "first\nsecond\nthird\n" {
		t.Fatalf("finished log: %q %v", again.String(), err)
	}
	if _, err := l.Write([]byte("late")); err == nil {
		t.Error("writing to a closed log succeeded")
	}
}

func TestLogFollowStopsWithContext(t *testing.T) {
	s := newLogStore(t.TempDir())
	l, err := s.create("app", "d1")
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.follow(ctx, "app", "d1", &syncBuffer{}, nil) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "canceled") {
			t.Errorf("follow after cancel = %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("follow did not stop when its context ended")
	}
}

func TestDeploymentLogTellsTheStory(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.LogDir = t.TempDir() })
	_, d := h.createLive(AppInput{Name: "app", Image: "hello:v1"})
	var out bytes.Buffer
	if err := h.e.FollowLog(h.ctx, "app", d.ID, &out, nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"resolving image hello:v1", "starting 1 replica", "live: 1 replica(s) serving"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, out.String())
		}
	}
	if err := h.e.FollowLog(h.ctx, "app", "nope", &out, nil); StatusOf(err) != 404 {
		t.Errorf("log of an unknown deployment: %v, want 404", err)
	}
}

func TestLogPruneKeepsNewest(t *testing.T) {
	s := newLogStore(t.TempDir())
	for i := 0; i < 5; i++ {
		l, err := s.create("app", fmt.Sprintf("d%d", i))
		if err != nil {
			t.Fatal(err)
		}
		l.Printf("log %d", i)
		l.close()
		// Distinct modification times, oldest first.
		when := time.Now().Add(time.Duration(i-10) * time.Minute)
		_ = os.Chtimes(s.path("app", fmt.Sprintf("d%d", i)), when, when)
	}
	live, _ := s.create("app", "running")
	defer live.close()
	old := time.Now().Add(-time.Hour)
	_ = os.Chtimes(s.path("app", "running"), old, old)
	s.prune("app", 2)
	for i, want := range []bool{false, false, false, true, true} {
		_, err := os.Stat(s.path("app", fmt.Sprintf("d%d", i)))
		if (err == nil) != want {
			t.Errorf("log d%d kept = %v, want %v", i, err == nil, want)
		}
	}
	if _, err := os.Stat(s.path("app", "running")); err != nil {
		t.Error("a live log was pruned")
	}
}
