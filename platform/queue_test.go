package platform

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTestQueues(t *testing.T) (*appQueues, context.CancelFunc, *sync.WaitGroup) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	q := newAppQueues(ctx, &wg)
	t.Cleanup(func() {
		cancel()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("queue workers still running at the end of the test")
		}
	})
	return q, cancel, &wg
}

func waitDone(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not finish", what)
	}
}

func TestQueueRunsOneAppInOrderWithoutOverlap(t *testing.T) {
	q, _, _ := newTestQueues(t)
	const n = 100
	var (
		mu        sync.Mutex
		order     []int
		active    atomic.Int32
		maxActive atomic.Int32
	)
	var last <-chan struct{}
	dones := make([]<-chan struct{}, n)
	for i := 0; i < n; i++ {
		i := i
		dones[i] = q.Enqueue("app", func(ctx context.Context) {
			cur := active.Add(1)
			for {
				m := maxActive.Load()
				if cur <= m || maxActive.CompareAndSwap(m, cur) {
					break
				}
			}
			if i%10 == 0 {
				time.Sleep(time.Millisecond)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			active.Add(-1)
		})
		last = dones[i]
	}
	waitDone(t, last, "the last job")
	for i, d := range dones {
		select {
		case <-d:
		default:
			t.Errorf("job %d's done channel is open after the last job finished", i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != n {
		t.Fatalf("%d jobs ran, want %d", len(order), n)
	}
	for i, v := range order {
		if v != i {
			t.Fatalf("jobs ran in order %v, want 0..%d", order, n-1)
		}
	}
	if m := maxActive.Load(); m != 1 {
		t.Errorf("%d jobs of one app ran at once, want 1", m)
	}
}

func TestQueueEnqueueFromConcurrentCallers(t *testing.T) {
	q, _, _ := newTestQueues(t)
	var active, maxActive, ran atomic.Int32
	var wg sync.WaitGroup
	dones := make([]<-chan struct{}, 10)
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				dones[g] = q.Enqueue("app", func(ctx context.Context) {
					if active.Add(1) > 1 {
						maxActive.Store(2)
					}
					ran.Add(1)
					active.Add(-1)
				})
			}
		}()
	}
	wg.Wait()
	for _, d := range dones {
		waitDone(t, d, "a job")
	}
	if ran.Load() != 200 {
		t.Errorf("%d jobs ran, want 200", ran.Load())
	}
	if maxActive.Load() > 1 {
		t.Error("jobs of one app overlapped")
	}
}

func TestQueueAppsRunConcurrently(t *testing.T) {
	q, _, _ := newTestQueues(t)
	aStarted := make(chan struct{})
	bStarted := make(chan struct{})
	// Each job waits for the other app's job to start: they finish only if
	// they run at the same time.
	doneA := q.Enqueue("a", func(ctx context.Context) {
		close(aStarted)
		select {
		case <-bStarted:
		case <-time.After(5 * time.Second):
		}
	})
	doneB := q.Enqueue("b", func(ctx context.Context) {
		close(bStarted)
		select {
		case <-aStarted:
		case <-time.After(5 * time.Second):
		}
	})
	start := time.Now()
	waitDone(t, doneA, "app a's job")
	waitDone(t, doneB, "app b's job")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("jobs of two apps took %s: they did not run concurrently", d)
	}
}

func TestQueueSlowAppDoesNotBlockOthers(t *testing.T) {
	q, _, _ := newTestQueues(t)
	release := make(chan struct{})
	defer close(release)
	q.Enqueue("slow", func(ctx context.Context) { <-release })
	for i := 0; i < 5; i++ {
		done := q.Enqueue(fmt.Sprintf("fast%d", i), func(ctx context.Context) {})
		waitDone(t, done, "a job of another app")
	}
}

func TestQueueCancel(t *testing.T) {
	q, _, _ := newTestQueues(t)
	running := make(chan struct{})
	var runningErr, queuedErr, laterErr, otherErr atomic.Value

	doneRunning := q.Enqueue("app", func(ctx context.Context) {
		close(running)
		select {
		case <-ctx.Done():
			runningErr.Store(ctx.Err())
		case <-time.After(5 * time.Second):
			runningErr.Store(fmt.Errorf("not canceled"))
		}
	})
	doneQueued := q.Enqueue("app", func(ctx context.Context) {
		queuedErr.Store(fmt.Sprint(ctx.Err()))
	})
	otherRelease := make(chan struct{})
	doneOther := q.Enqueue("other", func(ctx context.Context) {
		<-otherRelease
		otherErr.Store(fmt.Sprint(ctx.Err()))
	})
	waitDone(t, running, "the first job's start")

	q.Cancel("app")
	doneLater := q.Enqueue("app", func(ctx context.Context) {
		laterErr.Store(fmt.Sprint(ctx.Err()))
	})

	waitDone(t, doneRunning, "the running job")
	waitDone(t, doneQueued, "the queued job")
	waitDone(t, doneLater, "the later job")
	close(otherRelease)
	waitDone(t, doneOther, "the other app's job")

	if err, _ := runningErr.Load().(error); err != context.Canceled {
		t.Errorf("running job's context: %v, want canceled", err)
	}
	if got := queuedErr.Load(); got != context.Canceled.Error() {
		t.Errorf("queued job's context error = %v, want %v", got, context.Canceled)
	}
	if got := laterErr.Load(); got != "<nil>" {
		t.Errorf("job enqueued after Cancel got a context with error %v, want a live one", got)
	}
	if got := otherErr.Load(); got != "<nil>" {
		t.Errorf("Cancel of one app ended another app's context: %v", got)
	}
}

func TestQueueCancelIdleAppIsHarmless(t *testing.T) {
	q, _, _ := newTestQueues(t)
	q.Cancel("never-seen")
	var err atomic.Value
	done := q.Enqueue("never-seen", func(ctx context.Context) { err.Store(fmt.Sprint(ctx.Err())) })
	waitDone(t, done, "the job")
	if got := err.Load(); got != "<nil>" {
		t.Errorf("job after Cancel of an idle app got context error %v", got)
	}
}

func TestQueueForgetsIdleWorkers(t *testing.T) {
	q, _, _ := newTestQueues(t)
	for i := 0; i < 50; i++ {
		waitDone(t, q.Enqueue(fmt.Sprintf("app%d", i), func(ctx context.Context) {}), "a job")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		q.mu.Lock()
		n := len(q.workers)
		q.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d idle workers are kept, want 0", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestQueueParentCancelEndsJobs(t *testing.T) {
	q, cancel, wg := newTestQueues(t)
	started := make(chan struct{})
	var sawCancel atomic.Bool
	done := q.Enqueue("app", func(ctx context.Context) {
		close(started)
		select {
		case <-ctx.Done():
			sawCancel.Store(true)
		case <-time.After(5 * time.Second):
		}
	})
	waitDone(t, started, "the job's start")
	cancel()
	waitDone(t, done, "the job")
	if !sawCancel.Load() {
		t.Error("the job did not see the parent context end")
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	waitDone(t, finished, "the queue's goroutines")
}
