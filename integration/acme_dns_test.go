package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/libdns/libdns"

	"github.com/caddy-paas/caddy-paas/platform"
)

func init() {
	caddy.RegisterModule(challtestsrvDNS{})
}

// challtestsrvDNS is a test-only libdns provider, the Caddy module
// dns.providers.challtestsrv: it sets and clears the TXT records of DNS-01
// challenges through pebble-challtestsrv's management API, whose DNS
// server pebble asks when it validates.
type challtestsrvDNS struct {
	// ManagementURL is challtestsrv's management API, such as
	// http://127.0.0.1:8055.
	ManagementURL string `json:"management_url,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (challtestsrvDNS) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "dns.providers.challtestsrv",
		New: func() caddy.Module { return new(challtestsrvDNS) },
	}
}

// AppendRecords adds TXT records.
func (p *challtestsrvDNS) AppendRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	var added []libdns.Record
	for _, r := range recs {
		rr := r.RR()
		if rr.Type != "TXT" {
			return added, fmt.Errorf("challtestsrv: only TXT records, not %s", rr.Type)
		}
		host := libdns.AbsoluteName(rr.Name, zone)
		if err := p.post(ctx, "/set-txt", map[string]string{"host": host, "value": rr.Data}); err != nil {
			return added, err
		}
		added = append(added, r)
	}
	return added, nil
}

// DeleteRecords clears TXT records (challtestsrv clears every value of a
// name at once).
func (p *challtestsrvDNS) DeleteRecords(ctx context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	var deleted []libdns.Record
	for _, r := range recs {
		rr := r.RR()
		if err := p.post(ctx, "/clear-txt", map[string]string{"host": libdns.AbsoluteName(rr.Name, zone)}); err != nil {
			return deleted, err
		}
		deleted = append(deleted, r)
	}
	return deleted, nil
}

func (p *challtestsrvDNS) post(ctx context.Context, path string, body any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.ManagementURL+path, bytes.NewReader(data))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("challtestsrv %s: %w", path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("challtestsrv %s: %s: %s", path, resp.Status, out)
	}
	return nil
}

// Interface guards
var (
	_ libdns.RecordAppender = (*challtestsrvDNS)(nil)
	_ libdns.RecordDeleter  = (*challtestsrvDNS)(nil)
)

// startSOAServer answers DNS questions over UDP on loopback: SOA
// questions for names in zone get the zone's SOA record, anything else an
// empty answer. certmagic looks up the SOA of the challenge name to find
// the zone it asks the provider to write in, and challtestsrv answers SOA
// questions with NOTIMP, so the issuer's resolver is this server.
func startSOAServer(t *testing.T, zone string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	zone = strings.ToLower(strings.TrimSuffix(zone, ".")) + "."
	go func() {
		buf := make([]byte, 4096)
		for {
			n, addr, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := soaResponse(buf[:n], zone); resp != nil {
				_, _ = pc.WriteTo(resp, addr)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// soaResponse answers one DNS query (RFC 1035 wire format), or returns
// nil for a message it cannot read.
func soaResponse(q []byte, zone string) []byte {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:6]) != 1 || q[2]&0x80 != 0 {
		return nil
	}
	// The question: a name as uncompressed labels, a type and a class.
	off := 12
	var labels []string
	for {
		if off >= len(q) {
			return nil
		}
		l := int(q[off])
		off++
		if l == 0 {
			break
		}
		if l > 63 || off+l > len(q) {
			return nil
		}
		labels = append(labels, strings.ToLower(string(q[off:off+l])))
		off += l
	}
	if off+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[off : off+2])
	question := q[12 : off+4]
	name := strings.Join(labels, ".") + "."
	inZone := name == zone || strings.HasSuffix(name, "."+zone)

	flags := uint16(0x8000|0x0400|0x0080) | binary.BigEndian.Uint16(q[2:4])&0x7900 // QR, AA, RA; opcode and RD
	if !inZone {
		flags |= 3 // NXDOMAIN
	}
	var answer []byte
	if inZone && qtype == 6 { // SOA
		rdata := append(dnsName("ns."+zone), dnsName("hostmaster."+zone)...) // mname, rname
		for _, v := range []uint32{1, 60, 60, 60, 60} {                      // serial, refresh, retry, expire, minimum
			rdata = binary.BigEndian.AppendUint32(rdata, v)
		}
		answer = dnsName(zone)
		answer = binary.BigEndian.AppendUint16(answer, 6) // SOA
		answer = binary.BigEndian.AppendUint16(answer, 1) // IN
		answer = binary.BigEndian.AppendUint32(answer, 60)
		answer = binary.BigEndian.AppendUint16(answer, uint16(len(rdata)))
		answer = append(answer, rdata...)
	}
	resp := append([]byte{}, q[0:2]...)
	resp = binary.BigEndian.AppendUint16(resp, flags)
	resp = binary.BigEndian.AppendUint16(resp, 1) // questions
	ancount := uint16(0)
	if answer != nil {
		ancount = 1
	}
	resp = binary.BigEndian.AppendUint16(resp, ancount)
	resp = append(resp, 0, 0, 0, 0) // no authority, no additional
	resp = append(resp, question...)
	return append(resp, answer...)
}

// dnsName encodes a fully qualified name as DNS labels.
func dnsName(fqdn string) []byte {
	var b []byte
	for l := range strings.SplitSeq(strings.TrimSuffix(fqdn, "."), ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

// wildcardPolicy is an automation policy that gets a certificate for
// wildcard from pebble through DNS-01: the provider writes the TXT record
// in challtestsrv, and soa (startSOAServer) tells certmagic the zone.
func (a *acmeEnv) wildcardPolicy(wildcard, soa string) map[string]any {
	return map[string]any{
		"subjects": []string{wildcard},
		"issuers": []any{a.acmeIssuer(map[string]any{"dns": map[string]any{
			"provider":  map[string]any{"name": "challtestsrv", "management_url": a.challAPI},
			"resolvers": []string{soa},
			// Pebble asks challtestsrv, which has the record the moment
			// the provider returns: no propagation to wait for.
			"propagation_timeout": -1,
		}})},
	}
}

// waitForCertificate waits until a handshake for name succeeds (Caddy
// obtains automated certificates in the background after it starts).
func (a *acmeEnv) waitForCertificate(name string) *tls.Conn {
	a.t.Helper()
	var conn *tls.Conn
	acmeWait(a.t, 40*time.Second, "a handshake for "+name, func() error {
		c, err := a.handshake(name)
		if err != nil {
			return err
		}
		conn = c
		return nil
	})
	return conn
}

// TestWildcardDNS01: Caddy obtains a wildcard certificate for the base
// domain through a DNS-01 challenge (the record set through a libdns
// provider, validated by pebble in challtestsrv's DNS), and every app host
// under the base domain is then served with it: a new app costs no ACME
// order and needs no permission decision.
func TestWildcardDNS01(t *testing.T) {
	a := startACME(t)
	soa := startSOAServer(t, acmeBaseDomain)
	wildcard := "*." + acmeBaseDomain
	const appHost = "anyapp." + acmeBaseDomain
	policy := a.wildcardPolicy(wildcard, soa)
	e := a.startCaddy(a.caddyConfig(acmeConfig{policies: []any{policy}, automate: []string{wildcard}}))

	start := time.Now()
	conn := a.waitForCertificate(appHost)
	defer conn.Close()
	t.Logf("wildcard certificate served %s after start", time.Since(start).Round(time.Millisecond))
	leaf := conn.ConnectionState().PeerCertificates[0]
	if !slices.Contains(leaf.DNSNames, wildcard) {
		t.Fatalf("certificate names %v, want %s", leaf.DNSNames, wildcard)
	}
	// No app has this host yet: the route answers, with 404.
	if code, body := acmeGet(t, conn, appHost); code != http.StatusNotFound {
		t.Errorf("GET https://%s/ before the app exists: %d %.200q, want 404", appHost, code, body)
	}
	if n := a.dnsQueries("_acme-challenge." + acmeBaseDomain); n == 0 {
		t.Error("pebble never looked up the challenge's TXT record")
	}

	// A new app under the base domain is served with the same
	// certificate, with no new order.
	if _, err := e.CreateApp(context.Background(), platform.AppInput{Name: "anyapp"}); err != nil {
		t.Fatal(err)
	}
	conn2, err := a.handshake(appHost)
	if err != nil {
		t.Fatalf("handshake for %s once the app exists: %v", appHost, err)
	}
	defer conn2.Close()
	if !conn2.ConnectionState().PeerCertificates[0].Equal(leaf) {
		t.Errorf("the app's host got another certificate: %v", conn2.ConnectionState().PeerCertificates[0].DNSNames)
	}
	if code, body := acmeGet(t, conn2, appHost); code != http.StatusServiceUnavailable {
		t.Errorf("GET https://%s/: %d %.200q, want 503 (the app has no replica)", appHost, code, body)
	}
	if n := a.pebbleOrders(); n != 1 {
		t.Errorf("pebble got %d orders, want 1 (the wildcard)", n)
	}
	if found := a.storedFor(appHost); len(found) > 0 {
		t.Errorf("caddy stored %v for %s: it was issued on demand, not served by the wildcard", found, appHost)
	}
}
