package mcp

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"sync"
	"time"
)

// Confirmations are the codes a destructive tool answers on its first
// call. A code is bound to the tool, the caller and the exact arguments, so
// it cannot approve another call; it works once and expires soon.
type Confirmations struct {
	ttl time.Duration
	max int
	now func() time.Time

	mu      sync.Mutex
	pending map[string]pendingCode // by binding
}

type pendingCode struct {
	code    string
	expires time.Time
}

// Defaults of the confirmation step.
const (
	DefaultConfirmTTL = 2 * time.Minute
	DefaultMaxPending = 1000
)

// NewConfirmations keeps up to max pending codes (0: DefaultMaxPending),
// each valid for ttl (0: DefaultConfirmTTL).
func NewConfirmations(ttl time.Duration, max int) *Confirmations {
	if ttl <= 0 {
		ttl = DefaultConfirmTTL
	}
	if max <= 0 {
		max = DefaultMaxPending
	}
	return &Confirmations{ttl: ttl, max: max, now: time.Now, pending: map[string]pendingCode{}}
}

// binding is what a code approves: one tool, one caller, these arguments.
// json.Marshal writes map keys sorted, so equal arguments give the same
// text.
func binding(tool, caller string, args map[string]any) (string, error) {
	data, err := json.Marshal(args)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(tool), []byte(caller), data} {
		h.Write([]byte{byte(len(part) >> 24), byte(len(part) >> 16), byte(len(part) >> 8), byte(len(part))})
		h.Write(part)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Issue makes a code for the call, replacing any earlier code of the same
// call, and answers it with its expiry.
func (c *Confirmations) Issue(tool, caller string, args map[string]any) (string, time.Time, error) {
	key, err := binding(tool, caller, args)
	if err != nil {
		return "", time.Time{}, err
	}
	// 12 characters of base32 from crypto/rand: 60 bits.
	code := rand.Text()[:12]
	now := c.now()
	expires := now.Add(c.ttl)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.pending[key]; !ok && len(c.pending) >= c.max {
		c.evict(now)
	}
	c.pending[key] = pendingCode{code: code, expires: expires}
	return code, expires, nil
}

// evict drops the expired codes, and when none has expired the one that
// expires first. Callers hold mu.
func (c *Confirmations) evict(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, p := range c.pending {
		if now.After(p.expires) {
			delete(c.pending, k)
			continue
		}
		if oldest == "" || p.expires.Before(oldestAt) {
			oldest, oldestAt = k, p.expires
		}
	}
	if len(c.pending) >= c.max && oldest != "" {
		delete(c.pending, oldest)
	}
}

// Redeem reports whether code approves the call. The pending code is used
// up either way: a wrong guess ends it, so a code cannot be guessed.
func (c *Confirmations) Redeem(tool, caller string, args map[string]any, code string) bool {
	key, err := binding(tool, caller, args)
	if err != nil {
		return false
	}
	c.mu.Lock()
	p, ok := c.pending[key]
	delete(c.pending, key)
	c.mu.Unlock()
	if !ok || c.now().After(p.expires) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(p.code), []byte(code)) == 1
}

// Len is the number of pending codes.
func (c *Confirmations) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

var codeInText = regexp.MustCompile(`"` + ConfirmArg + `": "([A-Z2-7]{8,})"`)

// ConfirmationCode finds the code in the answer of a destructive tool's
// first call, for programs (and tests) that drive the tools.
func ConfirmationCode(text string) (string, bool) {
	m := codeInText.FindStringSubmatch(text)
	if m == nil {
		return "", false
	}
	return m[1], true
}
