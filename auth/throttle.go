package auth

import (
	"container/list"
	"slices"
	"sync"
	"time"
)

// Throttle counts failures per key (such as "ip:192.0.2.1" or
// "account:a@example.com") in a sliding window, to slow down password
// guessing. It lives in memory: a restart forgets it, which costs an
// attacker a restart per window. It is safe for concurrent use.
type Throttle struct {
	maxFailures int
	window      time.Duration
	maxKeys     int

	mu      sync.Mutex
	entries map[string]*list.Element // of *throttleEntry
	// order holds the entries from the least to the most recently failed,
	// so the first one is evicted when the map is full.
	order *list.List
}

type throttleEntry struct {
	key string
	// failures are the times of the latest failures, oldest first, at
	// most maxFailures of them: older ones cannot change an answer.
	failures []time.Time
}

// NewThrottle returns a throttle that refuses a key once it had
// maxFailures failures within window, and keeps at most maxKeys keys (when
// full, the keys whose last failure is the oldest are forgotten first, so
// memory stays bounded however many addresses an attacker uses). Values
// below 1 are raised to 1 (a second for window).
func NewThrottle(maxFailures int, window time.Duration, maxKeys int) *Throttle {
	return &Throttle{
		maxFailures: max(maxFailures, 1),
		window:      max(window, time.Second),
		maxKeys:     max(maxKeys, 1),
		entries:     make(map[string]*list.Element),
		order:       list.New(),
	}
}

// Check reports whether key may try again at now. When it may not,
// retryAfter is the wait until the oldest counted failure leaves the
// window.
func (t *Throttle) Check(key string, now time.Time) (retryAfter time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	el := t.entries[key]
	if el == nil {
		return 0, true
	}
	e := el.Value.(*throttleEntry)
	e.failures = t.recent(e.failures, now)
	if len(e.failures) == 0 {
		t.remove(el)
		return 0, true
	}
	if len(e.failures) < t.maxFailures {
		return 0, true
	}
	// The time may be before some failures (a clock step back): the wait
	// still ends one window after the oldest, and stays positive.
	return max(e.failures[0].Add(t.window).Sub(now), time.Nanosecond), false
}

// Fail counts a failure of key at now.
func (t *Throttle) Fail(key string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	el := t.entries[key]
	if el == nil {
		for len(t.entries) >= t.maxKeys {
			t.remove(t.order.Front())
		}
		el = t.order.PushBack(&throttleEntry{key: key})
		t.entries[key] = el
	} else {
		t.order.MoveToBack(el)
	}
	e := el.Value.(*throttleEntry)
	e.failures = append(t.recent(e.failures, now), now)
	// Callers' clocks may step back: keep the list sorted.
	slices.SortFunc(e.failures, time.Time.Compare)
	if n := len(e.failures); n > t.maxFailures {
		e.failures = append(e.failures[:0], e.failures[n-t.maxFailures:]...)
	}
}

// Reset forgets key's failures (after a successful login).
func (t *Throttle) Reset(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el := t.entries[key]; el != nil {
		t.remove(el)
	}
}

// recent drops the failures that left the window at now.
func (t *Throttle) recent(failures []time.Time, now time.Time) []time.Time {
	start := now.Add(-t.window)
	i := 0
	for i < len(failures) && !failures[i].After(start) {
		i++
	}
	return failures[i:]
}

func (t *Throttle) remove(el *list.Element) {
	t.order.Remove(el)
	delete(t.entries, el.Value.(*throttleEntry).key)
}

// SetLimits changes the limits (on a config reload); counted failures stay.
func (t *Throttle) SetLimits(maxFailures int, window time.Duration) {
	if maxFailures < 1 {
		maxFailures = 1
	}
	if window < time.Second {
		window = time.Second
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.maxFailures, t.window = maxFailures, window
}
