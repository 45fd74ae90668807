package caddymodule

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// isolateConfig points the user's config directory (and so the
// credentials) at a fresh folder, and clears the variables that would
// choose a target.
func isolateConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir) // Linux, BSD
	t.Setenv("HOME", dir)            // macOS: ~/Library/Application Support
	t.Setenv("AppData", dir)         // Windows
	for _, v := range []string{envServer, envToken, "CADDY_ADMIN"} {
		t.Setenv(v, "")
	}
	path, err := credentialsPath()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(path, dir) {
		t.Fatalf("credentials path %s is not under the test's config dir %s", path, dir)
	}
	return path
}

func TestCredentialsSaveMode(t *testing.T) {
	path := isolateConfig(t)
	if filepath.Base(path) != "credentials.json" || filepath.Base(filepath.Dir(path)) != "caddy-paas" {
		t.Errorf("credentials path = %s, want .../caddy-paas/credentials.json", path)
	}
	cr, gotPath, err := loadCredentials()
	if err != nil || gotPath != path || len(cr.Servers) != 0 || cr.Current != "" {
		t.Fatalf("loading no file = %+v, %s, %v; want empty credentials", cr, gotPath, err)
	}
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	cr.Servers["https://paas.example.com"] = &serverCredential{Token: "cpaas_0123456789ab_secret", TokenID: "tok_1", Email: "a@example.com", ExpiresAt: exp}
	cr.Current = "https://paas.example.com"
	if err := cr.save(path); err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS != "windows" {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("credentials file mode = %04o, want 0600", st.Mode().Perm())
		}
		dst, err := os.Stat(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if dst.Mode().Perm() != 0o700 {
			t.Errorf("credentials dir mode = %04o, want 0700", dst.Mode().Perm())
		}
	}
	// No temporary file is left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("the credentials dir holds %d files, want only credentials.json: %v", len(entries), entries)
	}
	back, _, err := loadCredentials()
	if err != nil {
		t.Fatal(err)
	}
	sc := back.Servers["https://paas.example.com"]
	if back.Current != "https://paas.example.com" || sc == nil || sc.Token != "cpaas_0123456789ab_secret" || sc.TokenID != "tok_1" || !sc.ExpiresAt.Equal(exp) {
		t.Errorf("loaded credentials = %+v %v", back, sc)
	}
	// Saving again (a second login) replaces the file and keeps its mode.
	back.Servers["http://localhost:8080"] = &serverCredential{Token: "cpaas_other"}
	if err := back.save(path); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
		t.Errorf("mode after a second save = %04o", st.Mode().Perm())
	}
}

func TestCredentialsRefuseBroadPermissions(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits on Windows")
	}
	path := isolateConfig(t)
	cr := &credentials{Servers: map[string]*serverCredential{"https://paas.example.com": {Token: "cpaas_0123456789ab_secret"}}, Current: "https://paas.example.com"}
	if err := cr.save(path); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o700} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, _, err := loadCredentials()
		if err == nil {
			t.Fatalf("loading a %04o credentials file succeeded, want a refusal", mode)
		}
		for _, want := range []string{fmt.Sprintf("%04o", mode), "chmod 600 " + path} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal of %04o = %q, want it to say %q", mode, err, want)
			}
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("the refusal shows the token: %v", err)
		}
		// Commands refuse it too, rather than use a token others may have read.
		if _, _, err := runCLI(t, "", "apps", "list"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("apps list with a %04o credentials file = %v, want the refusal", mode, err)
		}
	}
	for _, mode := range []os.FileMode{0o600, 0o400} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		if _, _, err := loadCredentials(); err != nil {
			t.Errorf("loading a %04o credentials file = %v", mode, err)
		}
	}
}

func TestNormalizeServer(t *testing.T) {
	for in, want := range map[string]string{
		"https://paas.example.com":         "https://paas.example.com",
		"https://PAAS.example.com/":        "https://paas.example.com",
		"paas.example.com":                 "https://paas.example.com",
		"https://paas.example.com/api/v1/": "https://paas.example.com",
		"http://paas.localhost:8080":       "http://paas.localhost:8080",
		" http://127.0.0.1:8080 ":          "http://127.0.0.1:8080",
	} {
		if got, err := normalizeServer(in); err != nil || got != want {
			t.Errorf("normalizeServer(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ftp://x", "https://user:pw@x", "https://x/some/path", "https://x?a=b", "https://"} {
		if got, err := normalizeServer(in); err == nil {
			t.Errorf("normalizeServer(%q) = %q, want an error", in, got)
		}
	}
	for in, want := range map[string]bool{"http://localhost:8080": true, "http://paas.localhost": true, "http://127.0.0.1": true, "http://[::1]:80": true, "http://paas.example.com": false} {
		if got := isLoopbackServer(in); got != want {
			t.Errorf("isLoopbackServer(%q) = %v", in, got)
		}
	}
}

func TestServerCredentialPrintsNoToken(t *testing.T) {
	sc := serverCredential{Token: "cpaas_0123456789ab_secret", TokenID: "tok_1"}
	for _, s := range []string{fmt.Sprint(sc), fmt.Sprintf("%v %+v %#v %s", sc, sc, sc, sc), fmt.Sprint(&sc)} {
		if strings.Contains(s, "secret") || !strings.Contains(s, "tok_1") {
			t.Errorf("printed credential = %s", s)
		}
	}
}
