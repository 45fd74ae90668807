package dashboard

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-paas/caddy-paas/platform"
)

// BenchmarkAppsPage renders the apps page of a visitor who sees 1,000
// apps, on the server: the session lookup, the in-process API calls
// (/me, /apps, /teams: authorization, JSON out and back in) and the
// template. The goal is under 50 ms per page; ms/op reports it.
func BenchmarkAppsPage(b *testing.B) {
	s := newSite(b)
	s.user("alice@example.com", "Alice", false, "alpha")
	for i := range 1000 {
		a := s.engine.add(fmt.Sprintf("app-%04d", i), "alpha")
		a.Env = map[string]string{"DATABASE_URL": "********", "SECRET_KEY": "********"}
		a.Domains = []string{fmt.Sprintf("www.app-%04d.example", i)}
		// Every app runs: each row shows its CPU and memory.
		a.Usage = &platform.AppUsage{CPUPercent: float64(i) / 7, MemoryBytes: uint64(i) << 20, Replicas: 2, SampledAt: time.Now()}
	}
	v := s.login("alice@example.com")
	req := httptest.NewRequest(http.MethodGet, "http://"+siteHost+"/", nil)
	req.AddCookie(&http.Cookie{Name: v.cookie.Name, Value: v.cookie.Value})
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || strings.Count(rec.Body.String(), `<tr><td><a href="/apps/app-`) != 1000 {
		b.Fatalf("the apps page: %d, not 1000 apps", rec.Code)
	}
	b.SetBytes(int64(rec.Body.Len()))
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		n++
	}
	b.ReportMetric(float64(time.Since(start).Microseconds())/1000/float64(n), "ms/op")
}
