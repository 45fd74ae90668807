package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// The environment variables that override the stored credentials, for CI:
// the server to talk to and the API token to send it.
const (
	envServer = "CADDY_PAAS_SERVER"
	envToken  = "CADDY_PAAS_TOKEN"
)

// credentials is what `caddy paas login` stores: an API token per server,
// and the server the commands talk to when none is given.
type credentials struct {
	// Current is the URL of the server commands talk to by default.
	Current string `json:"current,omitempty"`
	// Servers maps a server's URL (such as https://paas.example.com) to
	// its credential.
	Servers map[string]*serverCredential `json:"servers,omitempty"`
}

// serverCredential is the API token for one server, with what the server
// said about it (nothing here but Token is secret).
type serverCredential struct {
	Token     string    `json:"token"`
	TokenID   string    `json:"token_id,omitempty"`
	Email     string    `json:"email,omitempty"`
	Team      string    `json:"team,omitempty"`
	Scope     string    `json:"scope,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	SavedAt   time.Time `json:"saved_at,omitzero"`
}

// String leaves the token out, so that printing a credential by mistake
// (%v, a log line) shows no secret.
func (s serverCredential) String() string {
	return fmt.Sprintf("{token_id:%s email:%s team:%s scope:%s}", s.TokenID, s.Email, s.Team, s.Scope)
}

// GoString is String for %#v.
func (s serverCredential) GoString() string { return s.String() }

// credentialsPath is where the credentials live: the user's config
// directory (os.UserConfigDir: $XDG_CONFIG_HOME or ~/.config on Linux,
// ~/Library/Application Support on macOS, %AppData% on Windows), in
// caddy-paas/credentials.json.
func credentialsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the user's config directory for the credentials: %w", err)
	}
	return filepath.Join(dir, "caddy-paas", "credentials.json"), nil
}

// loadCredentials reads the credentials file; a missing file is no
// credentials. A file that others could read is refused: its token may
// have leaked, and it must not be used until its permissions are fixed.
func loadCredentials() (*credentials, string, error) {
	path, err := credentialsPath()
	if err != nil {
		return nil, "", err
	}
	cr := &credentials{Servers: map[string]*serverCredential{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cr, path, nil
	}
	if err != nil {
		return nil, path, fmt.Errorf("reading the credentials: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, path, fmt.Errorf("reading the credentials: %w", err)
	}
	if err := checkCredentialsMode(path, st.Mode()); err != nil {
		return nil, path, err
	}
	data, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, path, fmt.Errorf("reading the credentials: %w", err)
	}
	if err := json.Unmarshal(data, cr); err != nil {
		// The decoder's message quotes no value, only a position and a type.
		return nil, path, fmt.Errorf("the credentials file %s is damaged (%v): delete it and log in again", path, err)
	}
	if cr.Servers == nil {
		cr.Servers = map[string]*serverCredential{}
	}
	for url, sc := range cr.Servers {
		if sc == nil || sc.Token == "" {
			delete(cr.Servers, url)
		}
	}
	return cr, path, nil
}

// checkCredentialsMode refuses a file with any permission beyond 0600.
// Windows has no such bits (its ACLs keep a user's AppData private).
func checkCredentialsMode(path string, mode fs.FileMode) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	if !mode.IsRegular() {
		return fmt.Errorf("the credentials file %s is not a regular file", path)
	}
	if perm := mode.Perm(); perm&^0o600 != 0 {
		return fmt.Errorf("the credentials file %s has permissions %04o, broader than 0600: others may have read its tokens. "+
			"Run `chmod 600 %s` (and consider revoking its tokens), then try again", path, perm, path)
	}
	return nil
}

// save writes the credentials atomically: a temporary file of mode 0600 in
// the same directory (mode 0700), then a rename over the old file.
func (cr *credentials) save(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("saving the credentials: %w", err)
	}
	// The directory is this program's own: keep it private even when it
	// was made by something else.
	if runtime.GOOS != "windows" {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("saving the credentials: %w", err)
		}
	}
	data, err := json.MarshalIndent(cr, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*.tmp")
	if err != nil {
		return fmt.Errorf("saving the credentials: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		tmp.Close()
		return fmt.Errorf("saving the credentials: %w", err)
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the credentials: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("saving the credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("saving the credentials: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("saving the credentials: %w", err)
	}
	return nil
}

// normalizeServer turns what a user types (paas.example.com,
// https://paas.example.com/, https://paas.example.com/api/v1) into the
// server's URL: scheme and host, no path. https is the default scheme.
func normalizeServer(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("no server URL given")
	}
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("server URL %q: %w", raw, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("server URL %q: the scheme must be https or http", raw)
	}
	if u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("server URL %q: want https://HOST[:PORT]", raw)
	}
	p := strings.TrimRight(u.Path, "/")
	p = strings.TrimSuffix(p, "/api/v1")
	if p != "" {
		return "", fmt.Errorf("server URL %q: give the dashboard site's address, without a path (https://%s)", raw, u.Host)
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(u.Host), nil
}

// isLoopbackServer says whether a server URL names this machine, where
// plain http sends nothing over a network.
func isLoopbackServer(server string) bool {
	u, err := url.Parse(server)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
