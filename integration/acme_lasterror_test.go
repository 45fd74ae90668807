package integration

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/platform"
)

// TestCertificateFailureShowsInDomainStatus: a domain whose name does not
// resolve for the CA cannot be validated, and the app's domain list says
// why (a success clears it: see platform.Engine.CertEvent).
func TestCertificateFailureShowsInDomainStatus(t *testing.T) {
	a := startACME(t)
	const domain = "broken.example.test" // no A record yet: validation fails
	e := a.startCaddy(a.caddyConfig(acmeConfig{}))
	if _, err := e.CreateApp(context.Background(), platform.AppInput{Name: "broken", Domains: []string{domain}}); err != nil {
		t.Fatal(err)
	}
	if conn, err := a.handshake(domain); err == nil {
		conn.Close()
		t.Fatal("a handshake got a certificate for a name the CA cannot resolve")
	}
	e.SetResolver(loopbackResolver{})
	acmeWait(t, 20*time.Second, "the failure in the domain status", func() error {
		st := certStatusOf(t, e, "broken", domain)
		if st.LastError == "" || st.LastErrorAt == nil || st.Source != "none" {
			return errors.New("status " + st.Source + ", last error " + st.LastError)
		}
		return nil
	})
	st := certStatusOf(t, e, "broken", domain)
	if !strings.Contains(strings.ToLower(st.LastError), "dns") && !strings.Contains(st.LastError, domain) {
		t.Errorf("last error does not say what failed: %q", st.LastError)
	}
}
