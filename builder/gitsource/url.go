package gitsource

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrURLRefused is matched (with errors.Is) by every error that refuses a
// repository URL, whether for its form or for the address it resolves to.
var ErrURLRefused = errors.New("repository URL refused")

// Resolver looks up the addresses of a host name. *net.Resolver satisfies it;
// tests inject their own so that no real DNS is used.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// URLPolicy says which repository URLs are acceptable and where a fetch may
// connect. The zero value accepts https, ssh and scp-like URLs whose host
// resolves, through net.DefaultResolver, to public addresses only.
type URLPolicy struct {
	// AllowHTTP accepts plain http:// URLs (and redirects to them). Off by
	// default: the code and any token would travel in clear text.
	AllowHTTP bool

	// AllowFile accepts file:// URLs, read in-process by go-git. It exists
	// for tests and for administrators who mirror repositories locally;
	// never turn it on for URLs typed by tenants.
	AllowFile bool

	// AllowHosts is the administrator's allowlist for intranet targets. An
	// entry is a host name ("git.internal", matched case-insensitively and
	// without a trailing dot, allowing whatever it resolves to), an IP
	// address ("10.0.0.7", "::1") or a CIDR prefix ("10.0.0.0/8"). A host
	// or address on the list may be loopback, private or link-local; the
	// unspecified, multicast and broadcast addresses stay refused.
	AllowHosts []string

	// Resolver resolves host names, once per fetch; the fetch then connects
	// to the addresses that were checked. Nil means net.DefaultResolver.
	Resolver Resolver
}

// maxURLLength bounds a repository URL; real ones are far shorter.
const maxURLLength = 2048

// resolveTimeout bounds the DNS look-up that ValidateURL makes.
const resolveTimeout = 10 * time.Second

// helperSyntax matches git's "<transport>::<address>" remote-helper form, such
// as ext::sh -c ..., which makes git run a command.
var helperSyntax = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*::`)

// target is a repository URL that passed the syntax checks, with, after
// resolve, the addresses that passed the SSRF checks.
type target struct {
	scheme string // https, http, ssh or file
	user   string // ssh only
	host   string // lower case, no brackets, no trailing dot
	ip     netip.Addr
	port   int // 0 for the scheme's default
	path   string
	scp    bool         // written as user@host:path
	ips    []netip.Addr // filled by resolve
}

// String returns the URL in a normalized form that holds no secret, for
// logs, errors and the cache key.
func (t *target) String() string {
	switch {
	case t.scheme == "file":
		return "file://" + t.path
	case t.scp:
		return t.user + "@" + t.hostPort(false) + ":" + t.path
	}
	var b strings.Builder
	b.WriteString(t.scheme)
	b.WriteString("://")
	if t.user != "" {
		b.WriteString(t.user)
		b.WriteByte('@')
	}
	b.WriteString(t.hostPort(true))
	b.WriteString(t.path)
	return b.String()
}

// hostPort returns the host, bracketed if it is an IPv6 address, with the
// port when one was given and withPort is set.
func (t *target) hostPort(withPort bool) string {
	h := t.host
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	if withPort && t.port != 0 {
		h += ":" + strconv.Itoa(t.port)
	}
	return h
}

// sameOrigin reports whether o is on the same scheme, host and port as t,
// which is when a submodule may reuse t's credentials.
func (t *target) sameOrigin(o *target) bool {
	return t.scheme == o.scheme && t.host == o.host && t.port == o.port && t.user == o.user
}

// Origin returns the scheme, host and port of a repository URL, normalized
// as ValidateURL does ("https://git.example", "ssh://git.example:2222"; a
// scheme's default port left out, an scp-like URL counted as ssh, a file
// URL's origin "file://"): what an HTTPS token or other credential is
// bound to. Two URLs are on the same origin when their Origins are equal.
// Only the URL's form is checked, not where its host resolves; the error
// never repeats credentials the URL embeds.
func Origin(raw string) (string, error) {
	t, err := URLPolicy{AllowHTTP: true, AllowFile: true}.parse(raw)
	if err != nil {
		return "", err
	}
	if t.scheme == "file" {
		return "file://", nil
	}
	return t.scheme + "://" + t.hostPort(true), nil
}

// ValidateURL checks a repository URL against policy: its form, and the
// addresses its host resolves to (resolved once, with a short timeout).
// Accepted forms are https://host/path, http://host/path (when
// policy.AllowHTTP), ssh://[user@]host[:port]/path, scp-like
// [user@]host:path and file:///path (when policy.AllowFile). Refused are
// other schemes (git://, ext::, gopher://, ...), values starting with '-',
// any character but letters, digits and - . _ ~ / % + @ : = , [ ] (so no
// whitespace, control, non-ASCII or shell characters, query strings or
// fragments), a path with a ".." segment or one starting with '-',
// credentials in the URL (pass a token in the source's Auth instead),
// non-canonical numeric hosts (2130706433, 0x7f000001, 127.1), localhost
// names, and hosts resolving to loopback, link-local, private, unspecified,
// multicast or reserved addresses, in any IPv4-in-IPv6 spelling, unless the
// host or address is in policy.AllowHosts.
//
// The returned error never repeats the URL's credentials; it matches
// ErrURLRefused when the URL itself is refused.
func ValidateURL(raw string, policy URLPolicy) error {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	_, err := policy.check(ctx, raw)
	return err
}

// check parses raw and resolves its host, returning the checked target.
func (p URLPolicy) check(ctx context.Context, raw string) (*target, error) {
	t, err := p.parse(raw)
	if err != nil {
		return nil, err
	}
	if err := p.resolve(ctx, t); err != nil {
		return nil, err
	}
	return t, nil
}

// refuse builds an error matching ErrURLRefused.
func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrURLRefused, fmt.Sprintf(format, args...))
}

// parse checks the form of raw without resolving anything.
func (p URLPolicy) parse(raw string) (*target, error) {
	if raw == "" {
		return nil, refuse("empty URL")
	}
	if len(raw) > maxURLLength {
		return nil, refuse("longer than %d characters", maxURLLength)
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case c <= ' ' || c == 0x7f:
			return nil, refuse("contains whitespace or control characters")
		case c > 0x7e:
			return nil, refuse("contains non-ASCII characters; use punycode or percent-encoding")
		case !urlChar(c):
			return nil, refuse("contains %q; a repository URL may hold letters, digits and - . _ ~ / %% + @ : = , [ ]", c)
		}
	}
	if raw[0] == '-' {
		return nil, refuse("starts with '-'")
	}
	if m := helperSyntax.FindString(raw); m != "" {
		return nil, refuse("git remote-helper syntax %q is not allowed", m)
	}
	if strings.Contains(raw, "://") {
		return p.parseHierarchical(raw)
	}
	return parseSCP(raw)
}

// parseHierarchical parses scheme://... URLs.
func (p URLPolicy) parseHierarchical(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, credentials included: say less.
		return nil, refuse("not a valid URL")
	}
	t := &target{scheme: strings.ToLower(u.Scheme)}
	switch t.scheme {
	case "https", "ssh":
	case "http":
		if !p.AllowHTTP {
			return nil, refuse("http is not allowed; use https")
		}
	case "file":
		if !p.AllowFile {
			return nil, refuse("file URLs are not allowed")
		}
	default:
		return nil, refuse("scheme %q is not allowed; use https or ssh", t.scheme)
	}
	if u.Opaque != "" {
		return nil, refuse("not a hierarchical URL")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return nil, refuse("query strings and fragments are not allowed")
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			return nil, refuse("the URL embeds a password or token; remove it and pass a token in the source's auth instead")
		}
		if t.scheme != "ssh" {
			return nil, refuse("the URL embeds a user name or token; remove it and pass credentials in the source's auth instead")
		}
		t.user = u.User.Username()
		if err := checkUser(t.user); err != nil {
			return nil, err
		}
	}

	if t.scheme == "file" {
		if u.Host != "" {
			return nil, refuse("file URLs must not name a host")
		}
		if err := checkPath(u.Path, true); err != nil {
			return nil, err
		}
		t.path = strings.TrimSuffix(u.Path, "/")
		return t, nil
	}

	if t.scheme == "ssh" && t.user == "" {
		t.user = "git"
	}
	t.host, t.ip, err = normalizeHost(u.Hostname())
	if err != nil {
		return nil, err
	}
	if ps := u.Port(); ps != "" {
		port, err := strconv.Atoi(ps)
		if err != nil || port < 1 || port > 65535 {
			return nil, refuse("invalid port")
		}
		if !(t.scheme == "https" && port == 443 || t.scheme == "http" && port == 80 || t.scheme == "ssh" && port == 22) {
			t.port = port
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, refuse("empty port")
	}
	if err := checkPath(u.Path, true); err != nil {
		return nil, err
	}
	t.path = strings.TrimSuffix(u.Path, "/")
	return t, nil
}

// parseSCP parses the scp-like form [user@]host:path.
func parseSCP(raw string) (*target, error) {
	t := &target{scheme: "ssh", scp: true, user: "git"}
	rest := raw
	hostEnd := strings.IndexAny(rest, ":[")
	if hostEnd < 0 {
		return nil, refuse("not a URL; use https://host/path, ssh://host/path or user@host:path")
	}
	if at := strings.LastIndexByte(rest[:hostEnd], '@'); at >= 0 {
		t.user = rest[:at]
		if err := checkUser(t.user); err != nil {
			return nil, err
		}
		rest = rest[at+1:]
	}
	var host, path string
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end < 0 {
			return nil, refuse("not a URL; use https://host/path, ssh://host/path or user@host:path")
		}
		host, path = rest[1:end], rest[end+2:]
	} else {
		colon := strings.IndexByte(rest, ':')
		if colon < 0 {
			return nil, refuse("not a URL; use https://host/path, ssh://host/path or user@host:path")
		}
		host, path = rest[:colon], rest[colon+1:]
	}
	if host == "" || strings.ContainsAny(host, "/@") {
		return nil, refuse("not a URL; use https://host/path, ssh://host/path or user@host:path")
	}
	var err error
	t.host, t.ip, err = normalizeHost(host)
	if err != nil {
		return nil, err
	}
	if err := checkPath(path, false); err != nil {
		return nil, err
	}
	t.path = strings.TrimSuffix(path, "/")
	return t, nil
}

// checkUser checks an ssh user name.
func checkUser(u string) error {
	if u == "" {
		return refuse("empty user name")
	}
	if u[0] == '-' {
		return refuse("user name starts with '-'")
	}
	for _, c := range u {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return refuse("user name has characters other than letters, digits, '.', '_' and '-'")
		}
	}
	return nil
}

// checkPath checks a repository path (already percent-decoded when it came
// from url.Parse).
func checkPath(p string, absolute bool) error {
	if strings.Trim(p, "/") == "" {
		return refuse("no repository path")
	}
	if absolute && p[0] != '/' {
		return refuse("the repository path must be absolute")
	}
	for i := 0; i < len(p); i++ {
		if p[i] < ' ' || p[i] == 0x7f {
			return refuse("the path contains control characters")
		}
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return refuse("the path contains '..'")
		}
		if strings.HasPrefix(seg, "-") {
			return refuse("a path segment starts with '-'")
		}
	}
	return nil
}

// normalizeHost checks a host name or IP literal (without brackets) and
// returns it in lower case without a trailing dot, with the address when it
// is a literal.
func normalizeHost(h string) (string, netip.Addr, error) {
	h = strings.ToLower(h)
	if strings.Contains(h, ":") {
		ip, err := netip.ParseAddr(h)
		if err != nil {
			return "", netip.Addr{}, refuse("invalid IPv6 address")
		}
		if ip.Zone() != "" {
			return "", netip.Addr{}, refuse("IPv6 zones are not allowed")
		}
		return ip.String(), ip, nil
	}
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return "", netip.Addr{}, refuse("no host")
	}
	if h[0] == '-' {
		return "", netip.Addr{}, refuse("the host starts with '-'")
	}
	if endsInNumber(h) {
		ip, err := netip.ParseAddr(h)
		if err == nil && ip.Is4() {
			return ip.String(), ip, nil
		}
		if v4, ok := parseLegacyIPv4(h); ok {
			return "", netip.Addr{}, refuse("host %q is a non-canonical spelling of the address %s; write addresses as a plain dotted quad", h, v4)
		}
		return "", netip.Addr{}, refuse("host %q is neither a name nor a canonical IPv4 address", h)
	}
	if len(h) > 253 {
		return "", netip.Addr{}, refuse("the host name is too long")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", netip.Addr{}, refuse("invalid host name %q", h)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", netip.Addr{}, refuse("invalid host name %q", h)
			}
		}
	}
	return h, netip.Addr{}, nil
}

// endsInNumber reports whether the last label of h is numeric (decimal or
// 0x hex), which is how URL parsers decide that a host is an IPv4 address.
func endsInNumber(h string) bool {
	last := h[strings.LastIndexByte(h, '.')+1:]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		last = last[2:]
		for i := 0; i < len(last); i++ {
			if !isHex(last[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(last); i++ {
		if last[i] < '0' || last[i] > '9' {
			return false
		}
	}
	return true
}

// parseLegacyIPv4 decodes the inet_aton forms (127.1, 2130706433,
// 0x7f000001, 0177.0.0.1) that libc and browsers accept, only to say in an
// error what such a host really means.
func parseLegacyIPv4(h string) (netip.Addr, bool) {
	parts := strings.Split(h, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	vals := make([]uint64, len(parts))
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x"):
			base, p = 16, p[2:]
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		v, err := strconv.ParseUint(p, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	var n uint64
	for i, v := range vals[:len(vals)-1] {
		if v > 255 {
			return netip.Addr{}, false
		}
		n |= v << (24 - 8*i)
	}
	last := vals[len(vals)-1]
	if last >= 1<<(8*(5-len(vals))) {
		return netip.Addr{}, false
	}
	n |= last
	return netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), true
}

// urlChar reports whether c may appear in a repository URL: the unreserved
// and percent characters of RFC 3986 and the few delimiters git URLs use.
// Shell metacharacters, quotes, brackets other than an IPv6 host's, and the
// query and fragment marks are not among them.
func urlChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/%+@:=,[]", c) >= 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// isLocalhostName reports names that resolve to loopback by convention,
// whatever DNS says.
func isLocalhostName(h string) bool {
	switch h {
	case "localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback":
		return true
	}
	return strings.HasSuffix(h, ".localhost")
}

// resolve resolves t's host once and checks every address. A file target
// needs nothing.
func (p URLPolicy) resolve(ctx context.Context, t *target) error {
	if t.scheme == "file" {
		return nil
	}
	allow, err := p.allowlist()
	if err != nil {
		return err
	}
	nameAllowed := allow.names[t.host]
	var ips []netip.Addr
	if t.ip.IsValid() {
		ips = []netip.Addr{t.ip}
	} else {
		if isLocalhostName(t.host) && !nameAllowed {
			return refuse("host %q is a localhost name", t.host)
		}
		r := p.Resolver
		if r == nil {
			r = net.DefaultResolver
		}
		addrs, err := r.LookupIPAddr(ctx, t.host)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("resolving %s: %w", t.host, ctx.Err())
			}
			return fmt.Errorf("resolving %s: %w", t.host, err)
		}
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP)
			if !ok {
				continue
			}
			ips = append(ips, ip.Unmap())
		}
		if len(ips) == 0 {
			return fmt.Errorf("resolving %s: no addresses", t.host)
		}
	}
	seen := make(map[netip.Addr]bool, len(ips))
	t.ips = t.ips[:0]
	for _, ip := range ips {
		if reason := allow.refusal(ip, nameAllowed); reason != "" {
			if t.ip.IsValid() {
				return refuse("host %s is %s", t.host, reason)
			}
			return refuse("host %s resolves to %s, %s", t.host, ip.Unmap(), reason)
		}
		if !seen[ip] {
			seen[ip] = true
			t.ips = append(t.ips, ip)
		}
	}
	return nil
}

// allowlist is URLPolicy.AllowHosts parsed.
type allowlist struct {
	names    map[string]bool
	prefixes []netip.Prefix
}

// allowlist parses p.AllowHosts.
func (p URLPolicy) allowlist() (allowlist, error) {
	a := allowlist{names: make(map[string]bool)}
	for _, e := range p.AllowHosts {
		e = strings.TrimSpace(e)
		if pfx, err := netip.ParsePrefix(e); err == nil {
			a.prefixes = append(a.prefixes, pfx.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(e, "["), "]")); err == nil {
			ip = ip.Unmap()
			a.prefixes = append(a.prefixes, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		h, _, err := normalizeHost(e)
		if err != nil || h == "" {
			return a, fmt.Errorf("invalid allowed host %q: want a host name, an IP address or a CIDR prefix", e)
		}
		a.names[h] = true
	}
	return a, nil
}

// refusal returns why a fetch must not connect to ip, or "" if it may.
func (a allowlist) refusal(ip netip.Addr, nameAllowed bool) string {
	ip = ip.Unmap()
	switch {
	case ip.IsUnspecified():
		return "the unspecified address"
	case ip.IsMulticast():
		return "a multicast address"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	}
	if nameAllowed {
		return ""
	}
	for _, pfx := range a.prefixes {
		if pfx.Contains(ip) {
			return ""
		}
	}
	return blockedReason(ip)
}

// blockedPrefixes are ranges, beyond what netip classifies, that are no
// place for a public git server.
var blockedPrefixes = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "a this-network address"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT address"},
	{netip.MustParsePrefix("192.0.0.0/24"), "an IETF protocol address"},
	{netip.MustParsePrefix("192.0.2.0/24"), "a documentation address"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a benchmarking address"},
	{netip.MustParsePrefix("198.51.100.0/24"), "a documentation address"},
	{netip.MustParsePrefix("203.0.113.0/24"), "a documentation address"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved address"},
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible IPv6 address"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "a local NAT64 address"},
	{netip.MustParsePrefix("100::/64"), "a discard address"},
	{netip.MustParsePrefix("2001::/32"), "a Teredo tunnel address"},
	{netip.MustParsePrefix("2001:db8::/32"), "a documentation address"},
	{netip.MustParsePrefix("fec0::/10"), "a site-local address"},
}

// blockedReason classifies ip, an address no allowlist entry covers.
func blockedReason(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		// Addresses that carry an IPv4 address inside: NAT64 and 6to4 would
		// route to it.
		b := ip.As16()
		var v4 netip.Addr
		switch {
		case netip.MustParsePrefix("64:ff9b::/96").Contains(ip):
			v4 = netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
		case netip.MustParsePrefix("2002::/16").Contains(ip):
			v4 = netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]})
		}
		if v4.IsValid() {
			if r := blockedReason(v4); r != "" {
				return r + " embedded in an IPv6 address"
			}
		}
	}
	switch {
	case ip.IsUnspecified():
		return "the unspecified address"
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	case ip.IsMulticast():
		return "a multicast address"
	case ip.IsPrivate():
		return "a private address"
	}
	for _, b := range blockedPrefixes {
		if b.prefix.Contains(ip) {
			return b.reason
		}
	}
	return ""
}
