package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/caddy-paas/caddy-paas/platform"
)

// decodeTargets are the request types decoded from a JSON body.
var decodeTargets = []struct {
	name string
	new  func() any
}{
	{"AppInput", func() any { return new(platform.AppInput) }},
	{"AppPatch", func() any { return new(platform.AppPatch) }},
	{"DeployInput", func() any { return new(platform.DeployInput) }},
}

// FuzzDecode feeds arbitrary bodies to decode, the way the API does: under
// http.MaxBytesReader with MaxBodyBytes, and again with a limit below the
// body's size so the 413 path is fuzzed too. The seeds are in
// testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"name":"web","image":"nginx:1.27"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, target := range decodeTargets {
			checkDecode(t, target.name, target.new, body, MaxBodyBytes)
			checkDecode(t, target.name, target.new, body, int64(len(body)/2))
		}
	})
}

func checkDecode(t *testing.T, name string, newV func() any, body []byte, limit int64) {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/paas/apps", bytes.NewReader(body))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, limit)
	v := newV()
	err := decode(r, v)
	if err == nil {
		if int64(len(body)) > limit {
			t.Fatalf("%s: accepted a %d-byte body under a %d-byte limit", name, len(body), limit)
		}
		// One JSON value, nothing after it (decode refuses trailing data).
		if !json.Valid(body) {
			t.Fatalf("%s: accepted %q, which is not a single JSON value", name, body)
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: decoded %q, but encoding it fails: %v", name, body, err)
		}
		// What the API decoded, encoded, is a body it accepts.
		again := httptest.NewRequest(http.MethodPost, "/paas/apps", bytes.NewReader(out))
		if err := decode(again, newV()); err != nil {
			t.Fatalf("%s: decoded %q, re-encoded as %s, which is refused: %v", name, body, out, err)
		}
		return
	}
	var pe *platform.Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s: error %T %q is not a *platform.Error", name, err, err)
	}
	switch pe.Status {
	case http.StatusBadRequest:
	case http.StatusRequestEntityTooLarge:
		if int64(len(body)) <= limit {
			t.Fatalf("%s: 413 for a %d-byte body under a %d-byte limit", name, len(body), limit)
		}
	default:
		t.Fatalf("%s: status %d for %q", name, pe.Status, body)
	}
	if bytes.Contains(body, []byte("CANARY")) && len(body) > 16 && strings.Contains(pe.Message, string(body)) {
		t.Fatalf("%s: message %q quotes the body", name, pe.Message)
	}
	if why := checkDecodeMessage(pe.Message); why != "" {
		t.Fatalf("%s: message %q for body %q: %s", name, pe.Message, body, why)
	}
}

// TestDecodeHostile runs the bodies too large for the seed corpus (they
// would slow the fuzzer down) through the same checks.
func TestDecodeHostile(t *testing.T) {
	deep := func(open, close string, n int) []byte {
		return []byte(`{"name":` + strings.Repeat(open, n) + strings.Repeat(close, n) + `}`)
	}
	for _, tc := range []struct {
		name   string
		body   []byte
		status int // of AppInput's decoding
	}{
		// encoding/json stops at 10,000 levels.
		{"10,001 nested arrays", deep("[", "]", 10_001), http.StatusBadRequest},
		{"10,001 nested objects", deep(`{"a":`, "}", 10_001), http.StatusBadRequest},
		{"10,001 unclosed arrays", []byte(`{"name":` + strings.Repeat("[", 10_001)), http.StatusBadRequest},
		{"a body over the limit", []byte(`{"name":"` + strings.Repeat("CANARY-S3cr3t ", MaxBodyBytes/14+1) + `"}`), http.StatusRequestEntityTooLarge},
		{"a key over the limit", []byte(`{"` + strings.Repeat("k", MaxBodyBytes) + `":1}`), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, target := range decodeTargets {
				checkDecode(t, target.name, target.new, tc.body, MaxBodyBytes)
			}
			r := httptest.NewRequest(http.MethodPost, "/paas/apps", bytes.NewReader(tc.body))
			r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, MaxBodyBytes)
			err := decode(r, new(platform.AppInput))
			if got := platform.StatusOf(err); got != tc.status {
				t.Fatalf("status %d (%v), want %d", got, err, tc.status)
			}
		})
	}
}

// The messages decode may give. Only the unknown field's name comes from
// the body, and it is a key, never a value: every other part is fixed
// text, a number, or a field name or type name of the request types. A new
// message shape fails here until it is added, after checking it quotes no
// value.
var (
	decodeFixedRe   = regexp.MustCompile(`^(request body is larger than [0-9]+ bytes|request body is empty|malformed JSON: syntax error at byte [0-9]+|malformed JSON: cannot decode the body|malformed JSON: trailing data after the object)$`)
	decodeFieldRe   = regexp.MustCompile(`^malformed JSON: field "([A-Za-z0-9_.]*)" must be (\S+)$`)
	decodeUnknownRe = regexp.MustCompile(`^malformed JSON: unknown field (".*")$`)
)

func checkDecodeMessage(msg string) string {
	if decodeFixedRe.MatchString(msg) {
		return ""
	}
	if m := decodeUnknownRe.FindStringSubmatch(msg); m != nil {
		if strings.Contains(msg, "CANARY") && !strings.Contains(m[1], "CANARY") {
			return "the marker is outside the field name"
		}
		if _, err := strconv.Unquote(m[1]); err != nil {
			return "the field name is not quoted"
		}
		return ""
	}
	if m := decodeFieldRe.FindStringSubmatch(msg); m != nil {
		names, types := requestVocabulary()
		if m[1] != "" {
			for _, part := range strings.Split(m[1], ".") {
				if !names[part] {
					return "field path part " + strconv.Quote(part) + " is no field of the request types"
				}
			}
		}
		if !types[m[2]] {
			return "type " + strconv.Quote(m[2]) + " is no type of the request types"
		}
		return ""
	}
	return "not one of the known message shapes"
}

// requestVocabulary lists the field names (JSON and Go) and the type names
// reachable from the request types: all a type error may name.
var requestVocabulary = sync.OnceValues(func() (names, types map[string]bool) {
	names, types = map[string]bool{}, map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if types[t.String()] {
			return
		}
		types[t.String()] = true
		switch t.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array:
			walk(t.Elem())
		case reflect.Map:
			walk(t.Key())
			walk(t.Elem())
		case reflect.Struct:
			for i := range t.NumField() {
				sf := t.Field(i)
				names[sf.Name] = true
				if tag, _, _ := strings.Cut(sf.Tag.Get("json"), ","); tag != "" && tag != "-" {
					names[tag] = true
				}
				walk(sf.Type)
			}
		}
	}
	for _, target := range decodeTargets {
		walk(reflect.TypeOf(target.new()))
	}
	return names, types
})

// TestCheckDecodeMessage shows the message check can fail.
func TestCheckDecodeMessage(t *testing.T) {
	for _, tc := range []struct {
		msg string
		ok  bool
	}{
		{"request body is empty", true},
		{"request body is larger than 1048576 bytes", true},
		{"malformed JSON: syntax error at byte 12", true},
		{`malformed JSON: field "port" must be int`, true},
		{`malformed JSON: field "git.url" must be string`, true},
		{`malformed JSON: field "" must be platform.AppInput`, true},
		{`malformed JSON: unknown field "CANARY-key"`, true},
		{`malformed JSON: field "port" must be CANARY-S3cr3t`, false},
		{`malformed JSON: field "CANARY-S3cr3t" must be int`, false},
		{`malformed JSON: invalid character 'C' looking for beginning of value: CANARY-S3cr3t`, false},
		{`malformed JSON: cannot unmarshal "CANARY-S3cr3t" into int`, false},
		{"", false},
	} {
		if why := checkDecodeMessage(tc.msg); (why == "") != tc.ok {
			t.Errorf("checkDecodeMessage(%q) = %q, want ok=%v", tc.msg, why, tc.ok)
		}
	}
}
