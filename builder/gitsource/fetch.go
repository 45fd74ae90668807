package gitsource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/sideband"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

const (
	// infiniteDepth is git's "deepen" value for a full history, as
	// `git fetch --unshallow` sends it.
	infiniteDepth = 0x7fffffff
	// maxHaves bounds the commits offered as already present.
	maxHaves = 256
	// maxTagChain bounds the tags followed when peeling one.
	maxTagChain = 16
)

// fetcher resolves a ref against one remote session and fetches into the
// cached bare repository what is missing.
type fetcher struct {
	rem     *remote
	st      *filesystem.Storage
	maxPack int64
	// fetches counts the packs received, for logs and tests.
	fetches int
}

// resolved is a ref resolved to a commit present in the cache.
type resolved struct {
	name   string
	commit plumbing.Hash
}

// resolve finds ref on the remote or in the cache, fetches what is needed,
// and returns the commit. The remote was contacted (its refs listed with
// the caller's credentials) before this is called, even when the cache
// already holds everything, so the cache never serves a repository to a
// caller who cannot read it.
func (f *fetcher) resolve(ctx context.Context, ref string) (resolved, error) {
	adv := f.rem.adv
	if ref == "" || ref == "HEAD" {
		if adv.Head == nil {
			return resolved{}, fmt.Errorf("%w: the remote advertises no default branch; name a branch", ErrRefNotFound)
		}
		name := "HEAD"
		for _, v := range adv.Capabilities.Get(capability.SymRef) {
			if target, ok := strings.CutPrefix(v, "HEAD:"); ok {
				name = target
			}
		}
		return f.named(ctx, name, *adv.Head)
	}
	var names []string
	if strings.HasPrefix(ref, "refs/") {
		names = []string{ref}
	} else {
		names = []string{"refs/heads/" + ref, "refs/tags/" + ref}
	}
	for _, n := range names {
		if h, ok := adv.References[n]; ok {
			return f.named(ctx, n, h)
		}
	}
	if len(ref) >= 4 && len(ref) <= 40 && isHexString(ref) {
		return f.commit(ctx, strings.ToLower(ref))
	}
	return resolved{}, fmt.Errorf("%w: no branch, tag or commit named %q", ErrRefNotFound, ref)
}

// named resolves an advertised ref, fetching its tip (shallow where the
// server allows) unless the cache has it.
func (f *fetcher) named(ctx context.Context, name string, h plumbing.Hash) (resolved, error) {
	refs := map[string]plumbing.Hash{}
	if strings.HasPrefix(name, "refs/") {
		refs[name] = h
	}
	if !f.has(h) {
		if err := f.fetch(ctx, []plumbing.Hash{h}, true, refs); err != nil {
			return resolved{}, err
		}
	} else if err := f.storeRefs(refs); err != nil {
		return resolved{}, err
	}
	c, err := f.peel(h)
	if err != nil {
		return resolved{}, fmt.Errorf("resolving %s: %w", name, err)
	}
	return resolved{name: name, commit: c}, nil
}

// commit resolves a full or abbreviated commit sha. A commit the cache
// lacks is fetched shallow when it is the tip of an advertised ref, and
// otherwise with the whole history of every branch and tag (git servers do
// not hand out commits that are not tips of refs to this protocol).
func (f *fetcher) commit(ctx context.Context, hex string) (resolved, error) {
	if h, err := f.findLocal(hex); err != nil || !h.IsZero() {
		return resolved{name: h.String(), commit: h}, err
	}
	var tips []plumbing.Hash
	seen := map[plumbing.Hash]bool{}
	for n, h := range f.rem.adv.References {
		// Only branches and tags: not, say, GitHub's refs/pull/*, whose
		// commits may come from anyone's fork.
		if isBranchOrTag(n) && strings.HasPrefix(h.String(), hex) && !seen[h] {
			seen[h] = true
			tips = append(tips, h)
		}
	}
	if len(tips) == 1 {
		if err := f.fetch(ctx, tips, true, f.advertisedNamesOf(tips[0])); err != nil {
			return resolved{}, err
		}
		if h, err := f.findLocal(hex); err != nil || !h.IsZero() {
			return resolved{name: h.String(), commit: h}, err
		}
	}
	if err := f.fetchAll(ctx); err != nil {
		return resolved{}, err
	}
	h, err := f.findLocal(hex)
	if err != nil {
		return resolved{}, err
	}
	if h.IsZero() {
		return resolved{}, fmt.Errorf("%w: no branch, tag or commit named %q (a commit must be reachable from a branch or tag)", ErrRefNotFound, hex)
	}
	return resolved{name: h.String(), commit: h}, nil
}

// advertisedNamesOf returns the branch and tag names the remote advertises
// for h.
func (f *fetcher) advertisedNamesOf(h plumbing.Hash) map[string]plumbing.Hash {
	refs := map[string]plumbing.Hash{}
	for n, rh := range f.rem.adv.References {
		if rh == h && isBranchOrTag(n) {
			refs[n] = h
		}
	}
	return refs
}

// isBranchOrTag reports whether n is a ref worth mirroring in the cache.
func isBranchOrTag(n string) bool {
	return (strings.HasPrefix(n, "refs/heads/") || strings.HasPrefix(n, "refs/tags/")) && !strings.HasSuffix(n, "^{}")
}

// fetchAll fetches every branch and tag with its full history, deepening a
// shallow cache.
func (f *fetcher) fetchAll(ctx context.Context) error {
	refs := map[string]plumbing.Hash{}
	var wants, missing []plumbing.Hash
	for n, h := range f.rem.adv.References {
		if !isBranchOrTag(n) {
			continue
		}
		refs[n] = h
		wants = append(wants, h)
		if !f.has(h) {
			missing = append(missing, h)
		}
	}
	shallow, err := f.st.Shallow()
	if err != nil {
		return fmt.Errorf("reading the cache's shallow list: %w", err)
	}
	if len(wants) == 0 || len(missing) == 0 && len(shallow) == 0 {
		return f.storeRefs(refs)
	}
	return f.fetch(ctx, wants, false, refs)
}

// fetch asks the remote for wants, offering the cache's refs as haves, and
// stores the pack and refs. A shallow fetch has depth 1; a full one
// deepens a shallow cache to the whole history. Servers without the
// shallow capability (go-git's own, used for file URLs) get full fetches.
func (f *fetcher) fetch(ctx context.Context, wants []plumbing.Hash, shallow bool, refs map[string]plumbing.Hash) error {
	adv := f.rem.adv
	req := packp.NewUploadPackRequestFromCapabilities(adv.Capabilities)
	// A thin pack refers to objects outside it; a self-contained pack is
	// a little larger but cannot leave the cache short of a base object.
	req.Capabilities.Delete(capability.ThinPack)
	if adv.Capabilities.Supports(capability.NoProgress) {
		if err := req.Capabilities.Set(capability.NoProgress); err != nil {
			return err
		}
	}
	req.Wants = dedupe(wants)

	current, err := f.st.Shallow()
	if err != nil {
		return fmt.Errorf("reading the cache's shallow list: %w", err)
	}
	if adv.Capabilities.Supports(capability.Shallow) && (shallow || len(current) > 0) {
		if err := req.Capabilities.Set(capability.Shallow); err != nil {
			return err
		}
		req.Shallows = current
		if shallow {
			req.Depth = packp.DepthCommits(1)
		} else {
			req.Depth = packp.DepthCommits(infiniteDepth)
		}
	}
	req.Haves, err = f.haves()
	if err != nil {
		return err
	}

	resp, err := f.rem.sess.UploadPack(ctx, req)
	if errors.Is(err, transport.ErrEmptyUploadPackRequest) {
		return f.storeRefs(refs)
	}
	if err != nil {
		return fmt.Errorf("requesting objects: %w", err)
	}
	defer resp.Close()

	var r io.Reader = resp
	switch {
	case req.Capabilities.Supports(capability.Sideband64k):
		r = sideband.NewDemuxer(sideband.Sideband64k, r)
	case req.Capabilities.Supports(capability.Sideband):
		r = sideband.NewDemuxer(sideband.Sideband, r)
	}
	r = &cappedReadCloser{ReadCloser: io.NopCloser(r), left: f.maxPack}
	if err := packfile.UpdateObjectStorage(f.st, r); err != nil && !errors.Is(err, packfile.ErrEmptyPackfile) {
		return fmt.Errorf("receiving objects: %w", err)
	}
	f.fetches++

	if !req.Depth.IsZero() {
		if err := f.updateShallow(current, resp.Shallows, resp.Unshallows); err != nil {
			return err
		}
	}
	return f.storeRefs(refs)
}

// updateShallow records the server's new shallow boundary.
func (f *fetcher) updateShallow(current, add, remove []plumbing.Hash) error {
	set := map[plumbing.Hash]bool{}
	for _, h := range current {
		set[h] = true
	}
	for _, h := range add {
		set[h] = true
	}
	for _, h := range remove {
		delete(set, h)
	}
	list := make([]plumbing.Hash, 0, len(set))
	for h := range set {
		list = append(list, h)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].String() < list[j].String() })
	if err := f.st.SetShallow(list); err != nil {
		return fmt.Errorf("writing the cache's shallow list: %w", err)
	}
	return nil
}

// haves lists the commits (and tags) the cache's refs point to, branches
// first, which the remote need not send again. For a file URL they are
// limited to objects the source repository has: go-git's server fails on
// an unknown have, where git's ignores it.
func (f *fetcher) haves() ([]plumbing.Hash, error) {
	iter, err := f.st.IterReferences()
	if err != nil {
		return nil, fmt.Errorf("listing the cache's refs: %w", err)
	}
	var heads, tags []plumbing.Hash
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		if ref.Type() != plumbing.HashReference {
			return nil
		}
		h := ref.Hash()
		if !f.has(h) {
			return nil
		}
		if so := f.rem.serverObjects; so != nil && so.HasEncodedObject(h) != nil {
			return nil
		}
		if ref.Name().IsTag() {
			tags = append(tags, h)
		} else {
			heads = append(heads, h)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing the cache's refs: %w", err)
	}
	all := dedupe(append(heads, tags...))
	if len(all) > maxHaves {
		all = all[:maxHaves]
	}
	return all, nil
}

// storeRefs records refs in the cache, for those whose object arrived.
func (f *fetcher) storeRefs(refs map[string]plumbing.Hash) error {
	for n, h := range refs {
		if !f.has(h) {
			continue
		}
		if err := f.st.SetReference(plumbing.NewHashReference(plumbing.ReferenceName(n), h)); err != nil {
			return fmt.Errorf("storing ref %s: %w", n, err)
		}
	}
	return nil
}

// has reports whether the cache holds the object h.
func (f *fetcher) has(h plumbing.Hash) bool {
	return f.st.HasEncodedObject(h) == nil
}

// findLocal returns the only commit in the cache whose sha starts with
// hex, the zero hash if there is none, or an error if several match.
func (f *fetcher) findLocal(hex string) (plumbing.Hash, error) {
	if len(hex) == 40 {
		h := plumbing.NewHash(hex)
		if _, err := f.st.EncodedObject(plumbing.CommitObject, h); err == nil {
			return h, nil
		}
		return plumbing.ZeroHash, nil
	}
	iter, err := f.st.IterEncodedObjects(plumbing.CommitObject)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("listing the cache's commits: %w", err)
	}
	defer iter.Close()
	var found []plumbing.Hash
	seen := map[plumbing.Hash]bool{}
	for {
		o, err := iter.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("listing the cache's commits: %w", err)
		}
		h := o.Hash()
		if strings.HasPrefix(h.String(), hex) && !seen[h] {
			seen[h] = true
			found = append(found, h)
		}
	}
	switch len(found) {
	case 0:
		return plumbing.ZeroHash, nil
	case 1:
		return found[0], nil
	}
	return plumbing.ZeroHash, fmt.Errorf("commit prefix %q is ambiguous; give more digits", hex)
}

// peel follows annotated tags from h to a commit.
func (f *fetcher) peel(h plumbing.Hash) (plumbing.Hash, error) {
	for range maxTagChain {
		o, err := f.st.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, fmt.Errorf("reading object %s: %w", h, err)
		}
		switch o.Type() {
		case plumbing.CommitObject:
			return h, nil
		case plumbing.TagObject:
			tag, err := object.DecodeTag(f.st, o)
			if err != nil {
				return plumbing.ZeroHash, fmt.Errorf("reading tag %s: %w", h, err)
			}
			h = tag.Target
		default:
			return plumbing.ZeroHash, fmt.Errorf("it points to a %s, not a commit", o.Type())
		}
	}
	return plumbing.ZeroHash, errors.New("too many nested tags")
}

// dedupe returns hs without repeats, in order.
func dedupe(hs []plumbing.Hash) []plumbing.Hash {
	seen := make(map[plumbing.Hash]bool, len(hs))
	out := hs[:0:0]
	for _, h := range hs {
		if !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	return out
}
