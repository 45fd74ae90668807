package storage

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const canary = "CANARY-S3cr3t"

func testKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

func testSealer(t *testing.T) *Sealer {
	t.Helper()
	s, err := NewSealer(testKey(t))
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	return s
}

func TestNewSealerKeyLength(t *testing.T) {
	for _, tc := range []struct {
		size    int
		wantErr bool
	}{
		{size: 0, wantErr: true},
		{size: 16, wantErr: true},
		{size: 24, wantErr: true},
		{size: 31, wantErr: true},
		{size: 32, wantErr: false},
		{size: 33, wantErr: true},
		{size: 64, wantErr: true},
	} {
		s, err := NewSealer(make([]byte, tc.size))
		if tc.wantErr {
			if err == nil {
				t.Errorf("NewSealer(%d bytes): expected an error", tc.size)
			}
			continue
		}
		if err != nil || s == nil {
			t.Errorf("NewSealer(%d bytes): got (%v, %v), want a sealer", tc.size, s, err)
		}
	}
}

func TestSealerRoundTrip(t *testing.T) {
	s := testSealer(t)
	for i, tc := range []struct {
		plaintext string
		aad       string
	}{
		{plaintext: "", aad: "env/app/EMPTY"},
		{plaintext: canary, aad: "env/app/KEY"},
		{plaintext: "héllo wörld ✓ 日本語", aad: "env/app/UNICODE"},
		{plaintext: "with\x00nul\nand newline", aad: ""},
		{plaintext: strings.Repeat("x", 32<<10), aad: "env/app/BIG"},
		{plaintext: "same aad, other value", aad: "env/app/KEY"},
	} {
		sealed, err := s.Seal(tc.plaintext, tc.aad)
		if err != nil {
			t.Fatalf("test %d: Seal: %v", i, err)
		}
		if !strings.HasPrefix(sealed, sealedPrefix) {
			t.Errorf("test %d: sealed value %q lacks prefix %q", i, truncateForLog(sealed), sealedPrefix)
		}
		if tc.plaintext != "" && strings.Contains(sealed, tc.plaintext) {
			t.Errorf("test %d: sealed value contains the plaintext", i)
		}
		got, err := s.Open(sealed, tc.aad)
		if err != nil {
			t.Fatalf("test %d: Open: %v", i, err)
		}
		if got != tc.plaintext {
			t.Errorf("test %d: Open = %q, want %q", i, truncateForLog(got), truncateForLog(tc.plaintext))
		}
		// A random nonce: sealing the same value twice gives different
		// ciphertexts, which both open.
		again, err := s.Seal(tc.plaintext, tc.aad)
		if err != nil {
			t.Fatalf("test %d: second Seal: %v", i, err)
		}
		if again == sealed {
			t.Errorf("test %d: two seals of one value are identical", i)
		}
		if got, err := s.Open(again, tc.aad); err != nil || got != tc.plaintext {
			t.Errorf("test %d: Open of second seal = (%q, %v)", i, truncateForLog(got), err)
		}
	}
}

func TestSealerSameKeyOtherInstance(t *testing.T) {
	key := testKey(t)
	a, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewSealer(append([]byte(nil), key...))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := a.Seal(canary, "env/app/K")
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Open(sealed, "env/app/K")
	if err != nil || got != canary {
		t.Fatalf("Open with a second sealer of the same key = (%q, %v), want the plaintext", got, err)
	}
}

func TestSealerOpenFailures(t *testing.T) {
	s := testSealer(t)
	other := testSealer(t)
	const aad = "env/app/KEY"
	sealed, err := s.Seal(canary, aad)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, sealedPrefix))
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		return sealedPrefix + base64.RawStdEncoding.EncodeToString(b)
	}

	for _, tc := range []struct {
		name   string
		sealer *Sealer
		value  string
		aad    string
	}{
		{name: "wrong aad", sealer: s, value: sealed, aad: "env/app/OTHER"},
		{name: "aad of another app", sealer: s, value: sealed, aad: "env/other/KEY"},
		{name: "empty aad", sealer: s, value: sealed, aad: ""},
		{name: "wrong key", sealer: other, value: sealed, aad: aad},
		{name: "tampered nonce", sealer: s, value: tamper(0), aad: aad},
		{name: "tampered ciphertext", sealer: s, value: tamper(len(raw) / 2), aad: aad},
		{name: "tampered tag", sealer: s, value: tamper(len(raw) - 1), aad: aad},
		{name: "truncated", sealer: s, value: sealed[:len(sealed)-4], aad: aad},
		{name: "too short", sealer: s, value: sealedPrefix + base64.RawStdEncoding.EncodeToString([]byte("short")), aad: aad},
		{name: "not sealed", sealer: s, value: canary, aad: aad},
		{name: "other prefix version", sealer: s, value: strings.Replace(sealed, "sealed:v1:", "sealed:v2:", 1), aad: aad},
		{name: "malformed base64", sealer: s, value: sealedPrefix + "!!!" + canary, aad: aad},
		{name: "empty", sealer: s, value: "", aad: aad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.sealer.Open(tc.value, tc.aad)
			if err == nil {
				t.Fatalf("Open succeeded with %q, want an error", got)
			}
			if got != "" {
				t.Errorf("Open returned %q alongside an error", got)
			}
			if strings.Contains(err.Error(), canary) {
				t.Errorf("error %q contains the plaintext", err)
			}
		})
	}
}

func TestLoadOrCreateMasterKeyFile(t *testing.T) {
	t.Setenv(MasterKeyEnv, "")
	dir := t.TempDir()
	path := filepath.Join(dir, MasterKeyFile)

	key, err := LoadOrCreateMasterKey(dir)
	if err != nil {
		t.Fatalf("first LoadOrCreateMasterKey: %v", err)
	}
	if len(key) != 32 {
		t.Fatalf("key is %d bytes, want 32", len(key))
	}
	if bytes.Equal(key, make([]byte, 32)) {
		t.Fatal("key is all zeros")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %o, want 600", mode)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(data)); got != hex.EncodeToString(key) {
		t.Errorf("key file holds %q, want the hex of the key", got)
	}
	if _, err := NewSealer(key); err != nil {
		t.Errorf("the created key does not make a sealer: %v", err)
	}

	for i := 0; i < 3; i++ {
		again, err := LoadOrCreateMasterKey(dir)
		if err != nil {
			t.Fatalf("LoadOrCreateMasterKey #%d: %v", i+2, err)
		}
		if !bytes.Equal(again, key) {
			t.Fatalf("LoadOrCreateMasterKey #%d returned another key", i+2)
		}
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(after, data) {
		t.Error("key file was rewritten by a later call")
	}

	// Another data directory gets its own key.
	otherKey, err := LoadOrCreateMasterKey(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(otherKey, key) {
		t.Error("two data directories got the same key")
	}
}

func TestLoadOrCreateMasterKeyFromEnv(t *testing.T) {
	want := testKey(t)
	for _, tc := range []struct {
		name  string
		value string
	}{
		{name: "lowercase hex", value: hex.EncodeToString(want)},
		{name: "uppercase hex", value: strings.ToUpper(hex.EncodeToString(want))},
		{name: "surrounding space", value: "  " + hex.EncodeToString(want) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(MasterKeyEnv, tc.value)
			dir := t.TempDir()
			got, err := LoadOrCreateMasterKey(dir)
			if err != nil {
				t.Fatalf("LoadOrCreateMasterKey: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("key = %x, want %x", got, want)
			}
			if _, err := os.Stat(filepath.Join(dir, MasterKeyFile)); !os.IsNotExist(err) {
				t.Errorf("a key file was created although %s is set (stat: %v)", MasterKeyEnv, err)
			}
		})
	}
}

func TestLoadOrCreateMasterKeyEnvWinsOverFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(MasterKeyEnv, "")
	fileKey, err := LoadOrCreateMasterKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	envKey := testKey(t)
	t.Setenv(MasterKeyEnv, hex.EncodeToString(envKey))
	got, err := LoadOrCreateMasterKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, envKey) || bytes.Equal(got, fileKey) {
		t.Errorf("key = %x, want the one from %s", got, MasterKeyEnv)
	}
}

func TestLoadOrCreateMasterKeyMalformedEnv(t *testing.T) {
	valid := hex.EncodeToString(testKey(t))
	for _, tc := range []struct {
		name  string
		value string
	}{
		{name: "not hex", value: "CANARY-S3cr3t-not-hex"},
		{name: "too short", value: valid[:62]},
		{name: "too long", value: valid + "00"},
		{name: "odd length", value: valid[:63]},
		{name: "16 bytes", value: valid[:32]},
		{name: "hex with junk", value: valid[:60] + "zzzz"},
		{name: "inner space", value: valid[:32] + " " + valid[32:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(MasterKeyEnv, tc.value)
			dir := t.TempDir()
			key, err := LoadOrCreateMasterKey(dir)
			if err == nil {
				t.Fatalf("LoadOrCreateMasterKey succeeded with key %x, want an error", key)
			}
			if !strings.Contains(err.Error(), MasterKeyEnv) {
				t.Errorf("error %q does not name %s", err, MasterKeyEnv)
			}
			if strings.Contains(err.Error(), tc.value) || strings.Contains(err.Error(), canary) {
				t.Errorf("error %q echoes the value", err)
			}
			if _, err := os.Stat(filepath.Join(dir, MasterKeyFile)); !os.IsNotExist(err) {
				t.Errorf("a key file was created for a malformed env key (stat: %v)", err)
			}
		})
	}
}

func TestLoadOrCreateMasterKeyMalformedFile(t *testing.T) {
	t.Setenv(MasterKeyEnv, "")
	for _, tc := range []struct {
		name    string
		content string
	}{
		{name: "empty", content: ""},
		{name: "not hex", content: "this is not a key\n"},
		{name: "short", content: strings.Repeat("ab", 16) + "\n"},
		{name: "long", content: strings.Repeat("ab", 33) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, MasterKeyFile)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if key, err := LoadOrCreateMasterKey(dir); err == nil {
				t.Fatalf("LoadOrCreateMasterKey succeeded with key %x, want an error", key)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tc.content {
				t.Error("a malformed key file was overwritten")
			}
		})
	}
}

func TestLoadOrCreateMasterKeyMissingDir(t *testing.T) {
	t.Setenv(MasterKeyEnv, "")
	dir := filepath.Join(t.TempDir(), "does", "not", "exist")
	if key, err := LoadOrCreateMasterKey(dir); err == nil {
		t.Fatalf("LoadOrCreateMasterKey in a missing directory returned key %x, want an error", key)
	}
}

func truncateForLog(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
