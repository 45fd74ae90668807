package platform

import (
	"context"
	"sync"
)

// appQueues runs the changes of each app one at a time, in the order they
// were asked for, while different apps change concurrently. Each job gets a
// context that Cancel ends, so deleting an app stops its deploy at once.
type appQueues struct {
	parent context.Context
	wg     *sync.WaitGroup

	mu      sync.Mutex
	workers map[string]*appWorker
}

type appWorker struct {
	ctx     context.Context
	cancel  context.CancelFunc
	jobs    []queuedJob
	running bool
}

type queuedJob struct {
	ctx  context.Context
	run  func(ctx context.Context)
	done chan struct{}
}

func newAppQueues(parent context.Context, wg *sync.WaitGroup) *appQueues {
	return &appQueues{parent: parent, wg: wg, workers: map[string]*appWorker{}}
}

func (q *appQueues) worker(app string) *appWorker {
	w := q.workers[app]
	if w == nil {
		ctx, cancel := context.WithCancel(q.parent)
		w = &appWorker{ctx: ctx, cancel: cancel}
		q.workers[app] = w
	}
	return w
}

// Enqueue adds a job for app and returns a channel closed when it has run.
func (q *appQueues) Enqueue(app string, run func(ctx context.Context)) <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.worker(app)
	job := queuedJob{ctx: w.ctx, run: run, done: make(chan struct{})}
	w.jobs = append(w.jobs, job)
	if !w.running {
		w.running = true
		q.wg.Add(1)
		go q.drain(app, w)
	}
	return job.done
}

func (q *appQueues) drain(app string, w *appWorker) {
	defer q.wg.Done()
	for {
		q.mu.Lock()
		if len(w.jobs) == 0 {
			w.running = false
			// Forget idle workers so that the map does not grow with
			// deleted apps; a worker with a live context is recreated.
			if q.workers[app] == w {
				delete(q.workers, app)
				w.cancel()
			}
			q.mu.Unlock()
			return
		}
		job := w.jobs[0]
		w.jobs = w.jobs[1:]
		q.mu.Unlock()
		job.run(job.ctx)
		close(job.done)
	}
}

// Cancel ends the context of the app's running and queued jobs; jobs
// enqueued later get a fresh context.
func (q *appQueues) Cancel(app string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	w := q.workers[app]
	if w == nil {
		return
	}
	w.cancel()
	w.ctx, w.cancel = context.WithCancel(q.parent)
}
