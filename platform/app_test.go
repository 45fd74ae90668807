package platform

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// injectionPayloads are the shell and argument injection inputs of the
// security checklist; no validator may accept them.
var injectionPayloads = []string{
	"x; touch M",
	"$(touch M)",
	"$(id)",
	"`id`",
	"a|id",
	"a && id",
	"a\nid",
	"a\r\nid",
	"${IFS}id",
	"-rf",
	"--upload-pack=touch M",
	"a\x00b",
	"../../etc/passwd",
	"{env.SECRET}",
	"<img src=x onerror=alert(1)>",
}

func wantStatus(t *testing.T, err error, status int, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got no error, want status %d", what, status)
		return
	}
	if got := StatusOf(err); got != status {
		t.Errorf("%s: status %d (%v), want %d", what, got, err, status)
	}
}

func TestValidateAppName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		valid bool
	}{
		{name: "a", valid: true},
		{name: "hello", valid: true},
		{name: "hello-world", valid: true},
		{name: "app2", valid: true},
		{name: "a-1-b-2", valid: true},
		{name: "a" + strings.Repeat("b", 62), valid: true}, // 63 characters
		{name: "", valid: false},
		{name: "a" + strings.Repeat("b", 63), valid: false}, // 64 characters
		{name: "Hello", valid: false},
		{name: "HELLO", valid: false},
		{name: "-hello", valid: false},
		{name: "1hello", valid: false},
		{name: "9", valid: false},
		{name: "hello_world", valid: false},
		{name: "hello.world", valid: false},
		{name: "hello world", valid: false},
		{name: " hello", valid: false},
		{name: "hello ", valid: false},
		{name: "hello\n", valid: false},
		{name: "héllo", valid: false},
		{name: "hello/x", valid: false},
		{name: "..", valid: false},
	} {
		err := ValidateAppName(tc.name)
		if tc.valid {
			if err != nil {
				t.Errorf("ValidateAppName(%q) = %v, want valid", tc.name, err)
			}
			continue
		}
		wantStatus(t, err, http.StatusBadRequest, fmt.Sprintf("ValidateAppName(%q)", tc.name))
	}
	for _, p := range injectionPayloads {
		wantStatus(t, ValidateAppName(p), http.StatusBadRequest, fmt.Sprintf("ValidateAppName(%q)", p))
	}
}

func TestValidateAppNameTruncatesLongInput(t *testing.T) {
	long := strings.Repeat("X", 10000)
	err := ValidateAppName(long)
	if err == nil {
		t.Fatal("a 10,000-character name was accepted")
	}
	if len(err.Error()) > 400 {
		t.Errorf("error message is %d bytes; the input should be truncated", len(err.Error()))
	}
}

func TestValidateImage(t *testing.T) {
	for _, tc := range []struct {
		ref   string
		valid bool
	}{
		{ref: "nginx", valid: true},
		{ref: "nginx:1.27", valid: true},
		{ref: "library/nginx:latest", valid: true},
		{ref: "ghcr.io/owner/app:v1.2.3", valid: true},
		{ref: "localhost:5000/app", valid: true},
		{ref: "hello@sha256:" + strings.Repeat("a", 64), valid: true},
		{ref: "", valid: false},
		{ref: "Nginx", valid: false},
		{ref: "nginx:", valid: false},
		{ref: "nginx:bad tag", valid: false},
		{ref: "-nginx", valid: false},
		{ref: "--help", valid: false},
		{ref: "nginx@sha256:short", valid: false},
		{ref: "a/" + strings.Repeat("b", 520), valid: false},
	} {
		err := ValidateImage(tc.ref)
		if tc.valid {
			if err != nil {
				t.Errorf("ValidateImage(%q) = %v, want valid", tc.ref, err)
			}
			continue
		}
		wantStatus(t, err, http.StatusBadRequest, fmt.Sprintf("ValidateImage(%q)", tc.ref))
	}
	for _, p := range injectionPayloads {
		wantStatus(t, ValidateImage(p), http.StatusBadRequest, fmt.Sprintf("ValidateImage(%q)", p))
	}
}

func TestValidatePortAndReplicas(t *testing.T) {
	for _, tc := range []struct {
		port  int
		valid bool
	}{
		{1, true}, {80, true}, {8080, true}, {65535, true},
		{0, false}, {-1, false}, {65536, false}, {1 << 20, false},
	} {
		err := validatePort(tc.port)
		if tc.valid != (err == nil) {
			t.Errorf("validatePort(%d) = %v, want valid=%v", tc.port, err, tc.valid)
		}
		if err != nil {
			wantStatus(t, err, http.StatusBadRequest, fmt.Sprintf("validatePort(%d)", tc.port))
		}
	}
	for _, tc := range []struct {
		n     int
		valid bool
	}{
		{1, true}, {3, true}, {MaxReplicas, true},
		{0, false}, {-1, false}, {MaxReplicas + 1, false}, {1000, false},
	} {
		err := validateReplicas(tc.n)
		if tc.valid != (err == nil) {
			t.Errorf("validateReplicas(%d) = %v, want valid=%v", tc.n, err, tc.valid)
		}
		if err != nil {
			wantStatus(t, err, http.StatusBadRequest, fmt.Sprintf("validateReplicas(%d)", tc.n))
		}
	}
}

func TestValidateHealthPath(t *testing.T) {
	for _, tc := range []struct {
		path  string
		valid bool
	}{
		{path: "", valid: true},
		{path: "/", valid: true},
		{path: "/healthz", valid: true},
		{path: "/api/health?full=1", valid: true},
		{path: "/a-b_c.d~e", valid: true},
		{path: "/" + strings.Repeat("a", 255), valid: true},
		{path: "/" + strings.Repeat("a", 256), valid: false},
		{path: "healthz", valid: false},
		{path: "http://evil.example/x", valid: false},
		{path: "/a b", valid: false},
		{path: "/a\tb", valid: false},
		{path: "/a\r\nHost: evil", valid: false},
		{path: "/a\nb", valid: false},
		{path: "/a\x00b", valid: false},
		{path: "/a\\b", valid: false},
		{path: "/$(touch M)", valid: false},
		{path: "x; touch M", valid: false},
		{path: "`id`", valid: false},
	} {
		err := validateHealthPath(tc.path)
		if tc.valid {
			if err != nil {
				t.Errorf("validateHealthPath(%q) = %v, want valid", tc.path, err)
			}
			continue
		}
		wantStatus(t, err, http.StatusBadRequest, fmt.Sprintf("validateHealthPath(%q)", tc.path))
	}
}

func TestValidateEnv(t *testing.T) {
	const secret = "CANARY-S3cr3t"
	many := map[string]string{}
	for i := 0; i <= MaxEnvVars; i++ {
		many[fmt.Sprintf("K%d", i)] = "v"
	}
	atLimit := map[string]string{}
	for i := 0; i < MaxEnvVars; i++ {
		atLimit[fmt.Sprintf("K%d", i)] = "v"
	}
	// Each value is under the per-value cap, together over the total cap.
	big := map[string]string{}
	for i := 0; i*MaxEnvValueBytes <= MaxEnvTotalBytes; i++ {
		big[fmt.Sprintf("BIG%d", i)] = strings.Repeat("x", MaxEnvValueBytes)
	}

	for _, tc := range []struct {
		name  string
		env   map[string]string
		valid bool
	}{
		{name: "nil", env: nil, valid: true},
		{name: "simple", env: map[string]string{"FOO": "bar", "_x": "", "a1_B2": secret}, valid: true},
		{name: "any value bytes", env: map[string]string{"V": "x; touch M $(id) `id` \n\r\t"}, valid: true},
		{name: "value at the cap", env: map[string]string{"V": strings.Repeat("x", MaxEnvValueBytes)}, valid: true},
		{name: "as many as allowed", env: atLimit, valid: true},
		{name: "key at 255 characters", env: map[string]string{"K" + strings.Repeat("a", 254): "v"}, valid: true},
		{name: "empty key", env: map[string]string{"": "v"}},
		{name: "leading digit", env: map[string]string{"1FOO": "v"}},
		{name: "dash", env: map[string]string{"FOO-BAR": "v"}},
		{name: "equals sign", env: map[string]string{"FOO=BAR": "v"}},
		{name: "space", env: map[string]string{"FOO BAR": "v"}},
		{name: "injection key", env: map[string]string{"X;touch M": "v"}},
		{name: "newline key", env: map[string]string{"FOO\nBAR": "v"}},
		{name: "html key", env: map[string]string{"<img src=x onerror=alert(1)>": "v"}},
		{name: "key over 255 characters", env: map[string]string{"K" + strings.Repeat("a", 255): "v"}},
		{name: "value over the cap", env: map[string]string{"V": strings.Repeat("x", MaxEnvValueBytes+1)}},
		{name: "1 MB value", env: map[string]string{"V": secret + strings.Repeat("x", 1<<20)}},
		{name: "NUL in value", env: map[string]string{"V": secret + "\x00"}},
		{name: "too many", env: many},
		{name: "too big in all", env: big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := validateEnv(tc.env)
			if tc.valid {
				if err != nil {
					t.Fatalf("validateEnv = %v, want valid", err)
				}
				return
			}
			wantStatus(t, err, http.StatusBadRequest, "validateEnv")
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("error %q echoes an env value", err)
			}
		})
	}
}

func TestNormalizeDomain(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" means invalid
	}{
		{in: "example.com", want: "example.com"},
		{in: "WWW.Example.COM", want: "www.example.com"},
		{in: "example.com.", want: "example.com"},
		{in: "  shop.example.com  ", want: "shop.example.com"},
		{in: "a-b.c-d.example", want: "a-b.c-d.example"},
		{in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{in: "localhost", want: "localhost"},
		{in: strings.Repeat("a", 63) + ".com", want: strings.Repeat("a", 63) + ".com"},
		{in: ""},
		{in: "."},
		{in: "   "},
		{in: "{env.SECRET}"},
		{in: "{env.SECRET}.example.com"},
		{in: "{file./etc/shadow}"},
		{in: "*.example.com"},
		{in: "*"},
		{in: "example.com:443"},
		{in: "http://example.com"},
		{in: "example.com/path"},
		{in: "-example.com"},
		{in: "example-.com"},
		{in: "exa_mple.com"},
		{in: "example..com"},
		{in: ".example.com"},
		{in: "exa mple.com"},
		{in: "example.com\nbcc.example"},
		{in: "bücher.example", want: "xn--bcher-kva.example"}, // IDNA: kept as punycode
		{in: strings.Repeat("a", 64) + ".com"},
		{in: strings.Repeat("abcdefghi.", 26) + "com"}, // 263 characters
		{in: "x; touch M"},
		{in: "$(id).example.com"},
		{in: "<img src=x onerror=alert(1)>"},
	} {
		got, err := NormalizeDomain(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("NormalizeDomain(%q) = %q, want an error", tc.in, got)
				continue
			}
			wantStatus(t, err, http.StatusBadRequest, fmt.Sprintf("NormalizeDomain(%q)", tc.in))
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("NormalizeDomain(%q) = (%q, %v), want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestNormalizeDomains(t *testing.T) {
	got, err := normalizeDomains([]string{"B.example.com", "a.example.com", "b.example.com.", "A.EXAMPLE.COM"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"b.example.com", "a.example.com"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("normalizeDomains = %v, want %v (deduplicated, first order kept)", got, want)
	}
	if got, err := normalizeDomains(nil); err != nil || len(got) != 0 {
		t.Errorf("normalizeDomains(nil) = (%v, %v), want empty", got, err)
	}
	if _, err := normalizeDomains([]string{"ok.example.com", "*.example.com"}); err == nil {
		t.Error("normalizeDomains accepted a list with a wildcard")
	}
	tooMany := make([]string, MaxDomains+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("d%d.example.com", i)
	}
	wantStatus(t, func() error { _, err := normalizeDomains(tooMany); return err }(), http.StatusBadRequest, "normalizeDomains(too many)")
	if _, err := normalizeDomains(tooMany[:MaxDomains]); err != nil {
		t.Errorf("normalizeDomains(%d domains) = %v, want valid", MaxDomains, err)
	}
}

func TestStatusOf(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want int
	}{
		{name: "invalid", err: invalid("bad %s", "x"), want: http.StatusBadRequest},
		{name: "not found", err: notFound("no %s", "x"), want: http.StatusNotFound},
		{name: "conflict", err: conflict("taken"), want: http.StatusConflict},
		{name: "custom", err: &Error{Status: http.StatusServiceUnavailable, Message: "x"}, want: http.StatusServiceUnavailable},
		{name: "wrapped", err: fmt.Errorf("context: %w", conflict("taken")), want: http.StatusConflict},
		{name: "joined", err: errors.Join(errors.New("a"), notFound("b")), want: http.StatusNotFound},
		{name: "plain", err: errors.New("disk on fire"), want: http.StatusInternalServerError},
	} {
		if got := StatusOf(tc.err); got != tc.want {
			t.Errorf("%s: StatusOf = %d, want %d", tc.name, got, tc.want)
		}
	}
	if msg := invalid("port %d", 7).Error(); msg != "port 7" {
		t.Errorf("Error() = %q, want the formatted message", msg)
	}
}

func TestDeploymentStatusFinished(t *testing.T) {
	for _, tc := range []struct {
		s    DeploymentStatus
		want bool
	}{
		{StatusPending, false}, {StatusBuilding, false}, {StatusStarting, false},
		{StatusLive, true}, {StatusFailed, true}, {StatusSuperseded, true},
	} {
		if got := tc.s.Finished(); got != tc.want {
			t.Errorf("%s.Finished() = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestContainerEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Deployment
		want []string
	}{
		{
			name: "PORT added",
			d:    Deployment{Port: 8080, Env: map[string]string{"B": "2", "A": "1"}},
			want: []string{"A=1", "B=2", "PORT=8080"},
		},
		{
			name: "no env",
			d:    Deployment{Port: 3000},
			want: []string{"PORT=3000"},
		},
		{
			name: "app's own PORT kept",
			d:    Deployment{Port: 8080, Env: map[string]string{"PORT": "9000"}},
			want: []string{"PORT=9000"},
		},
		{
			name: "values kept verbatim",
			d:    Deployment{Port: 1, Env: map[string]string{"X": "a=b; $(id) `id`"}},
			want: []string{"PORT=1", "X=a=b; $(id) `id`"},
		},
	} {
		got := containerEnv(&tc.d)
		if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: containerEnv = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestNewDeploymentIDUnique(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := newDeploymentID()
		if len(id) != 12 || strings.Trim(id, "0123456789abcdef") != "" {
			t.Fatalf("deployment id %q is not 12 hex characters", id)
		}
		if seen[id] {
			t.Fatalf("deployment id %q repeated", id)
		}
		seen[id] = true
	}
}
