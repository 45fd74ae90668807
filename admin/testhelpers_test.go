package admin

import (
	"encoding/json"
	"testing"

	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/storage"
)

// newTestAuth opens a real identity service on a bbolt file in a temporary
// folder.
func newTestAuth(t testing.TB) *auth.Service {
	t.Helper()
	dir := t.TempDir()
	db, err := storage.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	sealer, err := storage.NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(db, sealer, auth.Config{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }
