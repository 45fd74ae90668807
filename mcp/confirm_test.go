package mcp

import (
	"strings"
	"testing"
	"time"
)

func TestConfirmationsBindToolCallerAndArguments(t *testing.T) {
	c := NewConfirmations(0, 0)
	args := map[string]any{"name": "blog", "nested": map[string]any{"b": 1.0, "a": "x"}}
	code, expires, err := c.Issue("apps_delete", "token:1", args)
	if err != nil {
		t.Fatal(err)
	}
	if len(code) < 8 || strings.Trim(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") != "" {
		t.Fatalf("code %q", code)
	}
	if d := time.Until(expires); d < DefaultConfirmTTL-time.Second || d > DefaultConfirmTTL {
		t.Fatalf("expires in %s", d)
	}
	// The same arguments in another order are the same call.
	same := map[string]any{"nested": map[string]any{"a": "x", "b": 1.0}, "name": "blog"}
	for name, redeem := range map[string]func() bool{
		"other tool":      func() bool { return c.Redeem("apps_stop", "token:1", args, code) },
		"other caller":    func() bool { return c.Redeem("apps_delete", "token:2", args, code) },
		"other arguments": func() bool { return c.Redeem("apps_delete", "token:1", map[string]any{"name": "blog2"}, code) },
	} {
		if redeem() {
			t.Errorf("%s: the code was accepted", name)
		}
	}
	if !c.Redeem("apps_delete", "token:1", same, code) {
		t.Fatal("the right call was refused")
	}
	if c.Redeem("apps_delete", "token:1", args, code) {
		t.Fatal("the code worked twice")
	}
	if c.Len() != 0 {
		t.Fatalf("%d codes pending", c.Len())
	}
}

func TestConfirmationsExpire(t *testing.T) {
	c := NewConfirmations(time.Minute, 0)
	now := time.Now()
	c.now = func() time.Time { return now }
	code, _, _ := c.Issue("t", "", nil)
	now = now.Add(time.Minute + time.Second)
	if c.Redeem("t", "", nil, code) {
		t.Fatal("an expired code was accepted")
	}
}

func TestConfirmationsWrongCodeEndsThePendingOne(t *testing.T) {
	c := NewConfirmations(0, 0)
	code, _, _ := c.Issue("t", "", nil)
	if c.Redeem("t", "", nil, "AAAAAAAAAAAA") {
		t.Fatal("a wrong code was accepted")
	}
	if c.Redeem("t", "", nil, code) {
		t.Fatal("the code survived a wrong guess")
	}
	// A new request replaces the pending code.
	first, _, _ := c.Issue("t", "", nil)
	second, _, _ := c.Issue("t", "", nil)
	if first == second || c.Redeem("t", "", nil, first) {
		t.Fatal("the replaced code still works")
	}
}

func TestConfirmationsAreBounded(t *testing.T) {
	c := NewConfirmations(time.Minute, 10)
	now := time.Now()
	c.now = func() time.Time { return now }
	var codes []string
	for i := range 25 {
		now = now.Add(time.Millisecond)
		code, _, err := c.Issue("t", "", map[string]any{"i": i})
		if err != nil {
			t.Fatal(err)
		}
		codes = append(codes, code)
	}
	if c.Len() != 10 {
		t.Fatalf("%d codes pending, want 10", c.Len())
	}
	// The newest are kept, the oldest dropped.
	if c.Redeem("t", "", map[string]any{"i": 0}, codes[0]) {
		t.Error("the oldest code was kept")
	}
	if !c.Redeem("t", "", map[string]any{"i": 24}, codes[24]) {
		t.Error("the newest code was dropped")
	}
}
