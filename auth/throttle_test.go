package auth

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func throttleLen(t *Throttle) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.entries)
}

func TestThrottle(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	const key = "account:a@b.c"
	type step struct {
		at     time.Duration // since t0
		action string        // "fail", "reset" or "check"
		key    string        // default key
		ok     bool          // for check
		retry  time.Duration // for a refused check
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"allows up to max, then refuses", []step{
			{at: 0, action: "check", ok: true},
			{at: 0, action: "fail"},
			{at: 1 * time.Second, action: "fail"},
			{at: 2 * time.Second, action: "check", ok: true},
			{at: 2 * time.Second, action: "fail"},
			{at: 3 * time.Second, action: "check", ok: false, retry: 57 * time.Second},
		}},
		{"the window frees it", []step{
			{at: 0, action: "fail"},
			{at: 10 * time.Second, action: "fail"},
			{at: 20 * time.Second, action: "fail"},
			{at: 59 * time.Second, action: "check", ok: false, retry: time.Second},
			{at: 60 * time.Second, action: "check", ok: true},
			// The failures at 10 s and 20 s still count: one more refuses,
			// until the one at 10 s leaves.
			{at: 61 * time.Second, action: "fail"},
			{at: 62 * time.Second, action: "check", ok: false, retry: 8 * time.Second},
			{at: 70 * time.Second, action: "check", ok: true},
		}},
		{"failures outside the window do not add up", []step{
			{at: 0, action: "fail"},
			{at: 2 * time.Minute, action: "fail"},
			{at: 4 * time.Minute, action: "fail"},
			{at: 4 * time.Minute, action: "check", ok: true},
		}},
		{"retry after counts from the oldest kept failure", []step{
			{at: 0, action: "fail"},
			{at: 1 * time.Second, action: "fail"},
			{at: 2 * time.Second, action: "fail"},
			{at: 3 * time.Second, action: "fail"},
			{at: 4 * time.Second, action: "fail"},
			// 5 failures, 3 allowed: refused until 3 of them are 60 s old.
			{at: 5 * time.Second, action: "check", ok: false, retry: 57 * time.Second},
			{at: 62 * time.Second, action: "check", ok: true},
		}},
		{"reset", []step{
			{at: 0, action: "fail"},
			{at: 0, action: "fail"},
			{at: 0, action: "fail"},
			{at: 1 * time.Second, action: "check", ok: false, retry: 59 * time.Second},
			{at: 1 * time.Second, action: "reset"},
			{at: 1 * time.Second, action: "check", ok: true},
		}},
		{"keys are separate", []step{
			{at: 0, action: "fail", key: "ip:192.0.2.1"},
			{at: 0, action: "fail", key: "ip:192.0.2.1"},
			{at: 0, action: "fail", key: "ip:192.0.2.1"},
			{at: 0, action: "check", key: "ip:192.0.2.1", ok: false, retry: time.Minute},
			{at: 0, action: "check", ok: true},
		}},
		{"clock stepping back", []step{
			{at: 30 * time.Second, action: "fail"},
			{at: 30 * time.Second, action: "fail"},
			{at: 0, action: "fail"},
			{at: 10 * time.Second, action: "check", ok: false, retry: 50 * time.Second},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			th := NewThrottle(3, time.Minute, 100)
			for i, s := range tc.steps {
				k := s.key
				if k == "" {
					k = key
				}
				now := t0.Add(s.at)
				switch s.action {
				case "fail":
					th.Fail(k, now)
				case "reset":
					th.Reset(k)
				case "check":
					retry, ok := th.Check(k, now)
					if ok != s.ok {
						t.Fatalf("step %d: Check at %v ok = %v, want %v", i, s.at, ok, s.ok)
					}
					if !ok && retry != s.retry {
						t.Fatalf("step %d: Check at %v retryAfter = %v, want %v", i, s.at, retry, s.retry)
					}
					if ok && retry != 0 {
						t.Fatalf("step %d: allowed with retryAfter %v", i, retry)
					}
				}
			}
		})
	}
}

func TestThrottleRetryAfterPositive(t *testing.T) {
	th := NewThrottle(1, time.Minute, 10)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th.Fail("k", t0)
	for _, at := range []time.Duration{0, time.Second, time.Minute - time.Nanosecond} {
		retry, ok := th.Check("k", t0.Add(at))
		if ok || retry <= 0 || retry > time.Minute {
			t.Errorf("Check at %v = %v, %v; want refused with 0 < retryAfter <= 1m", at, retry, ok)
		}
	}
	if _, ok := th.Check("k", t0.Add(time.Minute)); !ok {
		t.Error("still refused once the failure left the window")
	}
}

func TestThrottleEviction(t *testing.T) {
	const maxKeys = 50
	th := NewThrottle(2, time.Hour, maxKeys)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// The victim fails twice first, then an attacker spreads failures over
	// many addresses: the map stays bounded, the oldest keys go first.
	th.Fail("account:victim", t0)
	th.Fail("account:victim", t0)
	if _, ok := th.Check("account:victim", t0); ok {
		t.Fatal("victim not throttled")
	}
	for i := range 1000 {
		th.Fail(fmt.Sprintf("ip:198.51.100.%d/%d", i%256, i), t0.Add(time.Duration(i)*time.Millisecond))
		if n := throttleLen(th); n > maxKeys {
			t.Fatalf("after %d keys the throttle keeps %d, more than %d", i+1, n, maxKeys)
		}
	}
	if n := throttleLen(th); n != maxKeys {
		t.Fatalf("throttle keeps %d keys, want %d", n, maxKeys)
	}
	if _, ok := th.Check("account:victim", t0.Add(time.Second)); !ok {
		t.Error("the oldest key was not evicted")
	}
	// The most recent key is kept.
	th.Fail("ip:198.51.100.231/999", t0.Add(2*time.Second))
	if _, ok := th.Check("ip:198.51.100.231/999", t0.Add(2*time.Second)); ok {
		t.Error("the newest key was evicted")
	}

	// A key failing again moves to the back: it outlives newer keys.
	th = NewThrottle(1, time.Hour, 3)
	th.Fail("a", t0)
	th.Fail("b", t0)
	th.Fail("c", t0)
	th.Fail("a", t0.Add(time.Second)) // a is now the most recent
	th.Fail("d", t0.Add(2*time.Second))
	for k, wantKept := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		_, ok := th.Check(k, t0.Add(3*time.Second))
		if kept := !ok; kept != wantKept {
			t.Errorf("key %q kept = %v, want %v", k, kept, wantKept)
		}
	}
}

func TestThrottleForgetsExpiredKeys(t *testing.T) {
	th := NewThrottle(3, time.Minute, 100)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th.Fail("k", t0)
	if _, ok := th.Check("k", t0.Add(2*time.Minute)); !ok {
		t.Fatal("refused after the window")
	}
	if n := throttleLen(th); n != 0 {
		t.Fatalf("an expired key is still kept (%d keys)", n)
	}
}

func TestNewThrottleClamps(t *testing.T) {
	th := NewThrottle(0, 0, 0)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	th.Fail("k", t0)
	if _, ok := th.Check("k", t0); ok {
		t.Error("maxFailures 0 did not act as 1")
	}
	th.Fail("other", t0)
	if n := throttleLen(th); n != 1 {
		t.Errorf("maxKeys 0 keeps %d keys, want 1", n)
	}
}

// TestThrottleConcurrent is for -race: many goroutines on shared and own
// keys; at the end the shared key is throttled and the map bounded.
func TestThrottleConcurrent(t *testing.T) {
	const maxKeys = 64
	th := NewThrottle(5, time.Minute, maxKeys)
	now := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				own := fmt.Sprintf("ip:%d.%d", g, i)
				th.Fail("account:shared", now)
				th.Fail(own, now)
				th.Check(own, now)
				th.Check("account:shared", now)
				if i%10 == 0 {
					th.Reset(own)
				}
			}
		}()
	}
	wg.Wait()
	if n := throttleLen(th); n > maxKeys {
		t.Fatalf("%d keys kept, more than %d", n, maxKeys)
	}
	th.Fail("account:shared", now) // in case eviction took it
	for range 4 {
		th.Fail("account:shared", now)
	}
	if _, ok := th.Check("account:shared", now); ok {
		t.Fatal("the shared key is not throttled")
	}
}
