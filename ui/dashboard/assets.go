package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// assetFS holds the dashboard's own assets and, under assets/vendor/,
// the npm dependencies that scripts/assets.sh (make assets) copies there
// from ui/dashboard/web; that output is committed, so building needs no
// Node.js (vendor_test.go fails when it is stale).
//
//go:embed assets
var assetFS embed.FS

// vendorManifest is the list of the vendored files, with the versions and
// hashes they come from: embedded with them, never served.
const vendorManifest = "assets/vendor/MANIFEST"

// asset is one embedded static file, addressed by a hash of its content.
type asset struct {
	name        string
	hash        string
	body        []byte
	contentType string
}

// assetSet serves the embedded assets at /assets/<hash>/<name>. The hash
// changes whenever the content does, so an answer can be cached for a
// year and never be stale: a new build links new addresses.
type assetSet struct {
	byName map[string]*asset
}

// assetTypes are the content types of the assets, by extension: fixed
// here, not read from the system's MIME tables, so that a script is
// always served as one (X-Content-Type-Options: nosniff is strict).
var assetTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".svg": "image/svg+xml",
	// The vendored packages' licenses.
	".txt": "text/plain; charset=utf-8",
}

// assetHashLen is the number of hex digits of the content hash in an
// asset's address.
const assetHashLen = 16

func loadAssets() (*assetSet, error) {
	s := &assetSet{byName: map[string]*asset{}}
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == vendorManifest {
			return err
		}
		body, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		ct, ok := assetTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("asset %s: unknown type", p)
		}
		// An asset is addressed by its file name alone: two with one name
		// (one of them vendored) would be a bug.
		name := path.Base(p)
		if _, dup := s.byName[name]; dup {
			return fmt.Errorf("asset %s: another asset has the name %s", p, name)
		}
		s.byName[name] = &asset{name: name, hash: hex.EncodeToString(sum[:])[:assetHashLen], body: body, contentType: ct}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dashboard: reading assets: %w", err)
	}
	return s, nil
}

// url is the address of the asset name, for the templates. An unknown
// name is a bug in a template: it fails the page at its first render
// (and so the tests), not silently.
func (s *assetSet) url(name string) (string, error) {
	a, ok := s.byName[name]
	if !ok {
		return "", fmt.Errorf("no asset %q", name)
	}
	return "/assets/" + a.hash + "/" + a.name, nil
}

// serve answers GET /assets/{hash}/{file}: the file when the hash is its
// current one, with caching for a year; else 404 (an old page asking for
// an old version gets no newer file under the old address).
func (s *assetSet) serve(w http.ResponseWriter, r *http.Request) {
	a, ok := s.byName[r.PathValue("file")]
	if !ok || r.PathValue("hash") != a.hash {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "no such asset", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", `"`+a.hash+`"`)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.body))
}
