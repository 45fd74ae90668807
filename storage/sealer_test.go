package storage

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
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
		if prefix := sealedV2Prefix + s.KeyID() + ":"; !strings.HasPrefix(sealed, prefix) {
			t.Errorf("test %d: sealed value %q lacks prefix %q", i, truncateForLog(sealed), prefix)
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
	sealedPrefix := sealedV2Prefix + s.KeyID() + ":"
	raw, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, sealedPrefix))
	if err != nil {
		t.Fatal(err)
	}
	tamper := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		return sealedPrefix + base64.RawStdEncoding.EncodeToString(b)
	}
	// The same ciphertext as a v1 value (which names no key) still has to
	// pass the key: it opens with none but s's.
	asV1 := sealedV1Prefix + strings.TrimPrefix(sealed, sealedPrefix)

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
		{name: "other prefix version", sealer: s, value: strings.Replace(sealed, "sealed:v2:", "sealed:v3:", 1), aad: aad},
		{name: "unknown key id", sealer: s, value: strings.Replace(sealed, s.KeyID(), other.KeyID(), 1), aad: aad},
		{name: "key id of the other key", sealer: other, value: sealed, aad: aad},
		{name: "malformed key id", sealer: s, value: strings.Replace(sealed, s.KeyID(), "XYZ", 1), aad: aad},
		{name: "v2 without key id", sealer: s, value: sealedV2Prefix + strings.TrimPrefix(sealed, sealedPrefix), aad: aad},
		{name: "v1 under another key", sealer: other, value: asV1, aad: aad},
		{name: "v1 wrong aad", sealer: s, value: asV1, aad: "env/app/OTHER"},
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

// sealV1 seals the way sealers did before key ids.
func sealV1(t *testing.T, key []byte, plaintext, aad string) string {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	return sealedV1Prefix + base64.RawStdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(plaintext), []byte(aad)))
}

func TestKeyIDOf(t *testing.T) {
	key := testKey(t)
	id := KeyIDOf(key)
	if len(id) != 8 || !isKeyID(id) {
		t.Fatalf("KeyIDOf = %q, want 8 lowercase hex characters", id)
	}
	sum := sha256.Sum256(key)
	if want := hex.EncodeToString(sum[:4]); id != want {
		t.Errorf("KeyIDOf = %q, want %q", id, want)
	}
	if KeyIDOf(testKey(t)) == id {
		t.Error("two random keys have the same id")
	}
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != id {
		t.Errorf("KeyID = %q, want %q", s.KeyID(), id)
	}
	if strings.Contains(id, hex.EncodeToString(key)[:8]) {
		t.Error("the key id is the start of the key")
	}
}

func TestIsSealedAndSealedKeyID(t *testing.T) {
	s := testSealer(t)
	v2, err := s.Seal(canary, "a")
	if err != nil {
		t.Fatal(err)
	}
	v1 := sealV1(t, testKey(t), canary, "a")
	for _, tc := range []struct {
		value  string
		sealed bool
		kid    string
	}{
		{value: v2, sealed: true, kid: s.KeyID()},
		{value: v1, sealed: true, kid: ""},
		{value: "sealed:v2:0123abcd:AAAA", sealed: true, kid: "0123abcd"},
		{value: "sealed:v2:0123ABCD:AAAA", sealed: true, kid: ""},
		{value: "sealed:v2:0123abc:AAAA", sealed: true, kid: ""},
		{value: "sealed:v2:AAAA", sealed: true, kid: ""},
		{value: "sealed:v3:0123abcd:AAAA", sealed: false, kid: ""},
		{value: canary, sealed: false, kid: ""},
		{value: "", sealed: false, kid: ""},
		{value: " " + v2, sealed: false, kid: ""},
	} {
		if got := IsSealed(tc.value); got != tc.sealed {
			t.Errorf("IsSealed(%q) = %v, want %v", truncateForLog(tc.value), got, tc.sealed)
		}
		if got := SealedKeyID(tc.value); got != tc.kid {
			t.Errorf("SealedKeyID(%q) = %q, want %q", truncateForLog(tc.value), got, tc.kid)
		}
	}
}

func TestSealerSeveralKeys(t *testing.T) {
	keyA, keyB, keyC := testKey(t), testKey(t), testKey(t)
	idA, idB, idC := KeyIDOf(keyA), KeyIDOf(keyB), KeyIDOf(keyC)
	s, err := NewSealer(keyA)
	if err != nil {
		t.Fatal(err)
	}
	underA, _ := s.Seal(canary+"A", "x")
	v1A := sealV1(t, keyA, canary+"v1A", "x")
	v1B := sealV1(t, keyB, canary+"v1B", "x")
	v1C := sealV1(t, keyC, canary+"v1C", "x")

	if _, err := s.SealWith(idB, canary, "x"); err == nil {
		t.Error("SealWith a key that is not loaded succeeded")
	}
	if err := s.SetPrimary(idB); err == nil {
		t.Error("SetPrimary of a key that is not loaded succeeded")
	}
	if err := s.AddKey(keyB[:16]); err == nil {
		t.Error("AddKey of a 16-byte key succeeded")
	}
	if err := s.AddKey(keyB); err != nil {
		t.Fatal(err)
	}
	if err := s.AddKey(keyB); err != nil {
		t.Fatalf("adding a key twice: %v", err)
	}
	if got, want := s.KeyIDs(), sortedIDs(idA, idB); !equalStrings(got, want) {
		t.Errorf("KeyIDs = %v, want %v", got, want)
	}
	if s.KeyID() != idA {
		t.Errorf("AddKey changed the primary to %s", s.KeyID())
	}
	if v, _ := s.Seal(canary, "x"); SealedKeyID(v) != idA {
		t.Errorf("Seal after AddKey used key %s, want the primary %s", SealedKeyID(v), idA)
	}
	underB, err := s.SealWith(idB, canary+"B", "x")
	if err != nil || SealedKeyID(underB) != idB {
		t.Fatalf("SealWith(B) = %q, %v", truncateForLog(underB), err)
	}

	opens := func(step string, want map[string]string, fail []string) {
		t.Helper()
		for v, plain := range want {
			if got, err := s.Open(v, "x"); err != nil || got != plain {
				t.Errorf("%s: Open(%s) = (%q, %v), want %q", step, truncateForLog(v), got, err, plain)
			}
		}
		for _, v := range fail {
			if got, err := s.Open(v, "x"); err == nil {
				t.Errorf("%s: Open(%s) = %q, want an error", step, truncateForLog(v), got)
			}
		}
	}
	opens("A and B loaded", map[string]string{underA: canary + "A", underB: canary + "B", v1A: canary + "v1A", v1B: canary + "v1B"}, []string{v1C})

	if err := s.SetPrimary(idB); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Seal(canary, "x"); SealedKeyID(v) != idB {
		t.Errorf("Seal after SetPrimary(B) used key %s", SealedKeyID(v))
	}
	s.DropKey(idB) // the primary: nothing happens
	if s.KeyID() != idB || len(s.KeyIDs()) != 2 {
		t.Errorf("DropKey of the primary changed the keys: primary %s, keys %v", s.KeyID(), s.KeyIDs())
	}
	s.DropKey(idC) // not loaded: nothing happens
	s.DropKey(idA)
	if got := s.KeyIDs(); !equalStrings(got, []string{idB}) {
		t.Errorf("KeyIDs after DropKey(A) = %v", got)
	}
	opens("A dropped", map[string]string{underB: canary + "B", v1B: canary + "v1B"}, []string{underA, v1A, v1C})
	_, err = s.Open(underA, "x")
	if err == nil || !strings.Contains(err.Error(), idA) {
		t.Errorf("Open under a dropped key: error %v does not name key %s", err, idA)
	}
}

func sortedIDs(ids ...string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
