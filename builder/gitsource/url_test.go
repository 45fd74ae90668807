package gitsource

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// testResolver is the DNS of the URL tests.
var testResolver = fakeResolver{
	"github.com":       {"140.82.112.3"},
	"public.example":   {"93.184.216.34"},
	"v6.example":       {"2606:4700::1"},
	"internal.example": {"127.0.0.1"},
	"metadata.example": {"169.254.169.254"},
	"mixed.example":    {"93.184.216.34", "10.0.0.1"},
	"mapped.example":   {"::ffff:127.0.0.1"},
	"git.internal":     {"10.1.2.3"},
	"localhost":        {"127.0.0.1"},
}

func TestValidateURL(t *testing.T) {
	def := URLPolicy{Resolver: testResolver}
	withHTTP := URLPolicy{AllowHTTP: true, Resolver: testResolver}
	withFile := URLPolicy{AllowFile: true, Resolver: testResolver}
	allow := func(hosts ...string) URLPolicy {
		return URLPolicy{AllowHosts: hosts, AllowHTTP: true, Resolver: testResolver}
	}
	for _, tc := range []struct {
		url    string
		policy URLPolicy
		want   string // "" to accept, else an error substring
	}{
		// Accepted forms.
		{url: "https://github.com/org/repo.git", policy: def},
		{url: "https://github.com/org/repo", policy: def},
		{url: "https://GitHub.com./org/repo/", policy: def},
		{url: "https://github.com:443/org/repo", policy: def},
		{url: "https://github.com:8443/org/sub%20group/repo", policy: def},
		{url: "ssh://git@github.com/org/repo.git", policy: def},
		{url: "ssh://github.com:2222/org/repo.git", policy: def},
		{url: "git@github.com:org/repo.git", policy: def},
		{url: "github.com:org/repo.git", policy: def},
		{url: "git@[2606:4700::1]:org/repo.git", policy: def},
		{url: "https://93.184.216.34/x", policy: def},
		{url: "https://[2606:4700::1]/x", policy: def},
		{url: "https://v6.example/x", policy: def},
		{url: "http://public.example/x", policy: withHTTP},
		{url: "file:///srv/git/repo", policy: withFile},

		// The administrator's allowlist.
		{url: "https://git.internal/x", policy: allow("git.internal")},
		{url: "https://git.internal/x", policy: allow("GIT.Internal.")},
		{url: "https://10.1.2.3/x", policy: allow("10.0.0.0/8")},
		{url: "https://git.internal/x", policy: allow("10.1.2.3")},
		{url: "http://127.0.0.1:8080/x", policy: allow("127.0.0.1")},
		{url: "https://[::1]/x", policy: allow("::1")},
		{url: "https://[::1]/x", policy: allow("[::1]")},
		{url: "https://internal.example/x", policy: allow("internal.example")},
		{url: "https://localhost./x", policy: allow("localhost")},
		{url: "https://169.254.169.254/x", policy: allow("169.254.169.254")},
		{url: "https://git.internal/x", policy: allow("git.other"), want: "private"},
		{url: "https://internal.example/x", policy: allow("127.0.0.2"), want: "loopback"},
		{url: "https://0.0.0.0/x", policy: allow("0.0.0.0/0"), want: "unspecified"},
		{url: "https://224.0.0.1/x", policy: allow("224.0.0.0/4"), want: "multicast"},
		{url: "https://github.com/x", policy: allow("not a host!"), want: "invalid allowed host"},

		// SSRF: addresses written in the URL.
		{url: "https://169.254.169.254/latest/meta-data/", policy: def, want: "link-local"},
		{url: "http://169.254.169.254/latest/meta-data/", policy: withHTTP, want: "link-local"},
		{url: "https://[::ffff:169.254.169.254]/x", policy: def, want: "link-local"},
		{url: "https://[::ffff:a9fe:a9fe]/x", policy: def, want: "link-local"},
		{url: "https://[fe80::1]/x", policy: def, want: "link-local"},
		{url: "https://[fe80::1%25eth0]/x", policy: def, want: "zone"},
		{url: "https://127.0.0.1/x", policy: def, want: "loopback"},
		{url: "https://127.255.255.254:8080/x", policy: def, want: "loopback"},
		{url: "https://[::1]/x", policy: def, want: "loopback"},
		{url: "https://[::ffff:127.0.0.1]/x", policy: def, want: "loopback"},
		{url: "git@[::1]:x", policy: def, want: "loopback"},
		{url: "https://127.1/x", policy: def, want: "address 127.0.0.1"},
		{url: "https://2130706433/x", policy: def, want: "address 127.0.0.1"},
		{url: "https://0x7f000001/x", policy: def, want: "address 127.0.0.1"},
		{url: "https://0x7f.1/x", policy: def, want: "address 127.0.0.1"},
		{url: "https://0177.0.0.1/x", policy: def, want: "address 127.0.0.1"},
		{url: "https://017700000001/x", policy: def, want: "address 127.0.0.1"},
		{url: "https://2852039166/x", policy: def, want: "address 169.254.169.254"},
		{url: "https://1.2.3.4.5/x", policy: def, want: "neither a name nor"},
		{url: "ssh://git@2130706433/x", policy: def, want: "address 127.0.0.1"},
		{url: "https://0.0.0.0/x", policy: def, want: "unspecified"},
		{url: "https://[::]/x", policy: def, want: "unspecified"},
		{url: "https://0.1.2.3/x", policy: def, want: "this-network"},
		{url: "https://10.0.0.1/x", policy: def, want: "private"},
		{url: "https://172.16.0.1/x", policy: def, want: "private"},
		{url: "https://192.168.1.1/x", policy: def, want: "private"},
		{url: "https://100.64.0.1/x", policy: def, want: "carrier-grade NAT"},
		{url: "https://[fd00::1]/x", policy: def, want: "private"},
		{url: "https://[64:ff9b::7f00:1]/x", policy: def, want: "loopback address embedded"},
		{url: "https://[64:ff9b::a9fe:a9fe]/x", policy: def, want: "link-local address embedded"},
		{url: "https://[2002:7f00:1::]/x", policy: def, want: "loopback address embedded"},
		{url: "https://[::127.0.0.1]/x", policy: def, want: "IPv4-compatible"},
		{url: "https://224.0.0.1/x", policy: def, want: "multicast"},
		{url: "https://255.255.255.255/x", policy: def, want: "broadcast"},
		{url: "https://240.0.0.1/x", policy: def, want: "reserved"},

		// SSRF: names.
		{url: "https://localhost/x", policy: def, want: "localhost name"},
		{url: "https://localhost./x", policy: def, want: "localhost name"},
		{url: "https://LOCALHOST/x", policy: def, want: "localhost name"},
		{url: "https://app.localhost/x", policy: def, want: "localhost name"},
		{url: "https://internal.example/x", policy: def, want: "resolves to 127.0.0.1, a loopback address"},
		{url: "ssh://git@internal.example/x", policy: def, want: "resolves to 127.0.0.1"},
		{url: "git@internal.example:x", policy: def, want: "resolves to 127.0.0.1"},
		{url: "https://metadata.example/x", policy: def, want: "resolves to 169.254.169.254, a link-local address"},
		{url: "https://mixed.example/x", policy: def, want: "resolves to 10.0.0.1, a private address"},
		{url: "https://mapped.example/x", policy: def, want: "resolves to 127.0.0.1"},
		{url: "https://nxdomain.example/x", policy: def, want: "no such host"},

		// Schemes and forms.
		{url: "", policy: def, want: "empty"},
		{url: "file:///etc/passwd", policy: def, want: "file URLs are not allowed"},
		{url: "file://host/etc/passwd", policy: withFile, want: "must not name a host"},
		{url: "file:///srv/../etc", policy: withFile, want: "'..'"},
		{url: "file:relative", policy: withFile, want: "no such host"}, // scp-like: host "file"
		{url: "/srv/git/repo", policy: withFile, want: "not a URL"},
		{url: "http://public.example/x", policy: def, want: "http is not allowed"},
		{url: "gopher://public.example/x", policy: def, want: "scheme \"gopher\""},
		{url: "git://github.com/org/repo", policy: def, want: "scheme \"git\""},
		{url: "ftp://github.com/org/repo", policy: def, want: "scheme"},
		{url: "HTTPS://github.com/org/repo", policy: def},
		{url: "ext::sh", policy: def, want: "remote-helper"},
		{url: "ext::sh -c touch% /tmp/M", policy: def, want: "whitespace"},
		{url: "fd::17", policy: def, want: "remote-helper"},
		{url: "https://github.com", policy: def, want: "no repository path"},
		{url: "https://github.com/", policy: def, want: "no repository path"},
		{url: "https://github.com/a/../b", policy: def, want: "'..'"},
		{url: "https://github.com:0/x", policy: def, want: "invalid port"},
		{url: "https://github.com:99999/x", policy: def, want: "invalid port"},
		{url: "https://github.com:/x", policy: def, want: "empty port"},
		{url: "https://github.com/x?y=1", policy: def, want: "'?'"},
		{url: "https://github.com/x#main", policy: def, want: "'#'"},
		{url: "https://exa_mple..com/x", policy: def, want: "invalid host name"},
		{url: "https://xn--e1afmkfd.example/x", policy: def, want: "no such host"},
		{url: "https://пример.example/x", policy: def, want: "non-ASCII"},
		{url: strings.Repeat("a", 3000), policy: def, want: "longer than"},

		// Argument injection.
		{url: "-oProxyCommand=touch%20M", policy: def, want: "starts with '-'"},
		{url: "--upload-pack=touch", policy: def, want: "starts with '-'"},
		{url: "--upload-pack=touch M", policy: def, want: "whitespace"},
		{url: "ssh://-oProxyCommand=touch/x", policy: def, want: "starts with '-'"},
		{url: "ssh://-git@github.com/x", policy: def, want: "user name starts with '-'"},
		{url: "-git@github.com:x", policy: def, want: "starts with '-'"},
		{url: "git@-github.com:x", policy: def, want: "starts with '-'"},
		{url: "git@github.com:-x", policy: def, want: "starts with '-'"},
		{url: "ssh://git@github.com/--upload-pack=x", policy: def, want: "starts with '-'"},
		{url: "https://github.com/%2Dx", policy: def, want: "starts with '-'"},

		// Shell characters.
		{url: "https://github.com/x;touch%20M", policy: def, want: "';'"},
		{url: "https://github.com/$(touch%20M)", policy: def, want: "'$'"},
		{url: "https://github.com/`id`", policy: def, want: "'`'"},
		{url: "https://github.com/a|id", policy: def, want: "'|'"},
		{url: "https://github.com/a&&id", policy: def, want: "'&'"},
		{url: "https://github.com/${IFS}", policy: def, want: "'$'"},
		{url: "https://github.com/x\nid", policy: def, want: "control"},
		{url: "https://github.com/x\rid", policy: def, want: "control"},
		{url: "https://github.com/x\x00", policy: def, want: "control"},
		{url: "https://github.com/x%0aid", policy: def, want: "control"},
		{url: "https://github.com/x%00", policy: def, want: "control"},
		{url: "https://github.com/a b", policy: def, want: "whitespace"},
		{url: "https://github.com\\@evil.example/x", policy: def, want: "'\\\\'"},

		// Credentials.
		{url: "https://user:CANARY-S3cr3t@github.com/x", policy: def, want: "embeds a password or token"},
		{url: "https://CANARY-S3cr3t@github.com/x", policy: def, want: "embeds a user name or token"},
		{url: "https://:CANARY-S3cr3t@github.com/x", policy: def, want: "embeds a password"},
		{url: "ssh://git:CANARY-S3cr3t@github.com/x", policy: def, want: "embeds a password"},
		{url: "http://u:CANARY-S3cr3t@169.254.169.254/x", policy: withHTTP, want: "embeds a password"},
		{url: "https://user:CANARY-S3cr3t@github.com:bad/x", policy: def, want: "not a valid URL"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			err := ValidateURL(tc.url, tc.policy)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error mentioning %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "CANARY") {
				t.Errorf("error repeats the credential: %q", err)
			}
			if tc.want != "no such host" && !strings.Contains(tc.want, "invalid allowed host") && !errors.Is(err, ErrURLRefused) {
				t.Errorf("error %q is not ErrURLRefused", err)
			}
		})
	}
}

func TestTargetString(t *testing.T) {
	p := URLPolicy{AllowFile: true, AllowHTTP: true}
	for _, tc := range []struct{ in, want string }{
		{"HTTPS://GitHub.COM:443/Org/Repo.git/", "https://github.com/Org/Repo.git"},
		{"https://github.com:8443/x", "https://github.com:8443/x"},
		{"http://github.com:80/x", "http://github.com/x"},
		{"ssh://github.com:22/x", "ssh://git@github.com/x"},
		{"ssh://deploy@github.com:2222/x", "ssh://deploy@github.com:2222/x"},
		{"github.com:org/x.git", "git@github.com:org/x.git"},
		{"git@[2606:4700::1]:x", "git@[2606:4700::1]:x"},
		{"https://[2606:4700:0::1]/x", "https://[2606:4700::1]/x"},
		{"file:///srv/repo/", "file:///srv/repo"},
	} {
		tg, err := p.parse(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if got := tg.String(); got != tc.want {
			t.Errorf("%s: got %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseLegacyIPv4(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "" when not an address
	}{
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0X7F.0.0.1", ""}, // hosts are lower-cased before this
		{"0177.0.0.01", "127.0.0.1"},
		{"0x7f.0x0.0x0.0x1", "127.0.0.1"},
		{"10.0x1.2", "10.1.0.2"},
		{"256.1.1.1", ""},
		{"1.2.3.256", ""},
		{"1.2.65536", ""},
		{"4294967296", ""},
		{"1.2.3.4.5", ""},
		{"08.1.1.1", ""},
	} {
		got, ok := parseLegacyIPv4(tc.in)
		switch {
		case tc.want == "" && ok:
			t.Errorf("%s: got %s, want no address", tc.in, got)
		case tc.want != "" && (!ok || got != netip.MustParseAddr(tc.want)):
			t.Errorf("%s: got %s %v, want %s", tc.in, got, ok, tc.want)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	p := URLPolicy{AllowHTTP: true}
	parse := func(s string) *target {
		tg, err := p.parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return tg
	}
	base := parse("https://git.example/org/app")
	for _, tc := range []struct {
		url  string
		same bool
	}{
		{"https://git.example/org/lib", true},
		{"https://GIT.example:443/other/lib", true},
		{"https://git.example:8443/org/lib", false},
		{"http://git.example/org/lib", false},
		{"https://evil.example/org/lib", false},
		{"ssh://git@git.example/org/lib", false},
	} {
		if got := base.sameOrigin(parse(tc.url)); got != tc.same {
			t.Errorf("%s: same origin %v, want %v", tc.url, got, tc.same)
		}
	}
	sshBase := parse("git@git.example:org/app")
	if !sshBase.sameOrigin(parse("ssh://git@git.example/org/lib")) || sshBase.sameOrigin(parse("ssh://other@git.example/org/lib")) {
		t.Error("ssh origins compare user and host")
	}
}

func TestResolveSubmoduleURL(t *testing.T) {
	p := URLPolicy{AllowFile: true}
	for _, tc := range []struct {
		parent, url, want string
	}{
		{"https://git.example/org/app.git", "../lib.git", "https://git.example/org/lib.git"},
		{"https://git.example/org/app", "../../other/lib", "https://git.example/other/lib"},
		{"https://git.example/org/app", "./lib", "https://git.example/org/app/lib"},
		{"https://git.example:8443/org/app", "../lib", "https://git.example:8443/org/lib"},
		{"git@git.example:org/app.git", "../lib.git", "git@git.example:org/lib.git"},
		{"git@git.example:app.git", "../lib.git", "git@git.example:lib.git"},
		{"ssh://git@git.example:2222/org/app", "../lib", "ssh://git@git.example:2222/org/lib"},
		{"file:///srv/git/app", "../lib", "file:///srv/git/lib"},
		{"https://git.example/org/app", "https://other.example/lib", "https://other.example/lib"},
		{"https://git.example/org/app", "../../../lib", ""},
	} {
		parent, err := p.parse(tc.parent)
		if err != nil {
			t.Fatal(err)
		}
		got, err := resolveSubmoduleURL(parent, tc.url)
		if tc.want == "" {
			if err == nil {
				t.Errorf("%s + %s: got %s, want an error", tc.parent, tc.url, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s + %s: got %s %v, want %s", tc.parent, tc.url, got, err, tc.want)
		}
	}
}
