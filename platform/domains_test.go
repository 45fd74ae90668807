package platform

import (
	"context"
	"net"
	"strings"
	"testing"
)

type mapResolver map[string][]string

func (m mapResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	var out []net.IPAddr
	for _, s := range m[host] {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	if len(out) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return out, nil
}

func TestDomainsChecksDNS(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.PublicIPs = []string{"203.0.113.7"} })
	h.e.SetResolver(mapResolver{
		"app." + testBase:  {"203.0.113.7"},
		"shop.example":     {"198.51.100.1"},
		"www.shop.example": {"203.0.113.7", "198.51.100.1"},
	})
	if _, err := h.e.CreateApp(h.ctx, AppInput{Name: "app", Domains: []string{"shop.example"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.AddDomains(h.ctx, "app", []string{"www.shop.example", "nowhere.example"}); err != nil {
		t.Fatal(err)
	}
	list, err := h.e.Domains(h.ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		here bool
		msg  string
	}{
		"app." + testBase:  {true, "points to this server"},
		"shop.example":     {false, "resolves to 198.51.100.1, not to this server"},
		"www.shop.example": {true, "also to 198.51.100.1"},
		"nowhere.example":  {false, "does not resolve"},
	}
	if len(list) != len(want) {
		t.Fatalf("%d domains, want %d: %+v", len(list), len(want), list)
	}
	for _, d := range list {
		w := want[d.Domain]
		if d.DNS.PointsHere != w.here || !strings.Contains(d.DNS.Message, w.msg) || d.Certificate.Source != "none" {
			t.Errorf("%s: %+v, want points_here=%v and a message with %q", d.Domain, d, w.here, w.msg)
		}
	}
	if !list[0].Default || list[0].Domain != "app."+testBase {
		t.Errorf("the default host comes first: %+v", list[0])
	}
	if _, err := h.e.RemoveDomain(h.ctx, "app", "nowhere.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.e.RemoveDomain(h.ctx, "app", "app."+testBase); StatusOf(err) != 404 {
		t.Errorf("removing the default host: %v, want 404", err)
	}
	if _, err := h.e.AddDomains(h.ctx, "app", nil); StatusOf(err) != 400 {
		t.Errorf("adding no domain: %v, want 400", err)
	}
	if h.e.Table().Lookup("nowhere.example") != nil {
		t.Error("a removed domain still routes")
	}
}

func TestNormalizeDomainIDNA(t *testing.T) {
	for in, want := range map[string]string{
		"Bücher.Example":        "xn--bcher-kva.example",
		"xn--bcher-kva.example": "xn--bcher-kva.example",
		"café.example.":         "xn--caf-dma.example",
	} {
		got, err := NormalizeDomain(in)
		if err != nil || got != want {
			t.Errorf("NormalizeDomain(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"*.example.com", "{env.SECRET}.example", "a b.example", "exa_mple.com", "-lead.example", "\u200b.example"} {
		if _, err := NormalizeDomain(bad); err == nil {
			t.Errorf("NormalizeDomain(%q) accepted", bad)
		}
	}
}

func TestCertEventsSetAndClearLastError(t *testing.T) {
	h := newHarness(t)
	h.e.SetResolver(mapResolver{})
	if _, err := h.e.CreateApp(h.ctx, AppInput{Name: "app"}); err != nil {
		t.Fatal(err)
	}
	host := "app." + testBase
	h.e.CertEvent(host, "acme: authorization failed")
	list, _ := h.e.Domains(h.ctx, "app")
	if list[0].Certificate.LastError != "acme: authorization failed" || list[0].Certificate.LastErrorAt == nil {
		t.Fatalf("after a failure: %+v", list[0].Certificate)
	}
	h.e.CertEvent(strings.ToUpper(host), "")
	list, _ = h.e.Domains(h.ctx, "app")
	if list[0].Certificate.LastError != "" {
		t.Errorf("a success did not clear the last error: %+v", list[0].Certificate)
	}
}
