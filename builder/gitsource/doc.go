// Package gitsource fetches the source tree of a git repository at a ref, for
// deploying apps from git.
//
// It speaks git itself through go-git (no git binary is run) and keeps bare
// repositories in a [Cache], so a redeploy fetches only what is new: one per
// owner (such as an app) when the [Source] names one, so that owners never
// share fetched objects, and otherwise one per remote URL. [Cache.Checkout] writes the tree of the resolved commit,
// submodules included, into a plain directory without a .git folder.
// [GenerateDeployKey] makes the key pair of the SSH deploy key flow.
//
// # Input checks
//
// [ValidateURL] accepts only https (and, when a [URLPolicy] allows them,
// http and file), ssh and scp-like URLs, made of an allowlist of
// characters, without credentials; [ValidateRef] accepts only plain branch,
// tag and commit names. Tree entries are checked as they are written: no
// .git, "..", absolute or escaping symlinks, and every write goes through an
// os.Root confined to the destination.
//
// # SSRF
//
// A URL's host is resolved once, with the policy's Resolver, and every
// address must be public: loopback, link-local, private, unspecified,
// carrier-grade NAT, multicast, reserved and documentation ranges are
// refused, as are the same addresses inside IPv6 (IPv4-mapped, -compatible,
// NAT64, 6to4), non-canonical numeric hosts (2130706433, 0x7f000001, 127.1)
// and localhost names, unless the administrator's AllowHosts lists the host
// or address. The fetch then connects to the checked addresses only: over
// HTTP(S) through a per-fetch transport whose dialer refuses anything else
// (and resolves and checks again the host a redirect names, at each
// connection), over SSH by putting the checked address itself in go-git's
// endpoint while host keys are verified against the URL's host name.
// go-git's process-wide protocol table (client.InstallProtocol) is not used:
// each fetch builds its own transport.
//
// Residual gaps, all outside what a tenant controls: HTTP(S) fetches ignore
// HTTP_PROXY and HTTPS_PROXY (a proxy would resolve names again), so an
// egress proxy is not supported; SSH dials honour ALL_PROXY and the ssh_config
// of the process's user (looked up by the dialed address), which an
// administrator controls; go-git's SSH dial takes no context, so a
// cancelled Checkout returns at once while that dial finishes in the
// background (30 s at most); and a name on AllowHosts is trusted whatever it
// resolves to.
//
// # Submodules
//
// go-git's submodule support needs a worktree with a .git directory, which
// a checkout does not have, so the package reads .gitmodules itself and
// checks each gitlink out from its own cached repository, with the same
// URL policy; relative URLs are resolved against the parent's URL as git
// does. Credentials go along only to the parent's scheme, host, port and
// user.
package gitsource
