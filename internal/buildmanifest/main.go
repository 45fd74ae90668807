// Command buildmanifest reads xcaddy.json, our build manifest (the Caddy
// version and the plugins to build in), and prints the arguments of
// `xcaddy build`, one per line, for `make xcaddy`. To add a plugin (a DNS
// provider for wildcard certificates, say), add it to "plugins":
//
//	{"module": "github.com/caddy-dns/cloudflare", "version": "v0.2.1"}
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
)

// Manifest is the shape of xcaddy.json.
type Manifest struct {
	// CaddyVersion is the Caddy release to build, such as v2.11.9.
	CaddyVersion string `json:"caddy_version"`
	// Plugins are the Go modules built into Caddy.
	Plugins []Plugin `json:"plugins"`
}

// Plugin is one module built into Caddy.
type Plugin struct {
	// Module is the Go module path.
	Module string `json:"module"`
	// Version pins the module's version; empty means latest.
	Version string `json:"version,omitempty"`
	// Replace builds the module from a local folder instead.
	Replace string `json:"replace,omitempty"`
}

var safe = regexp.MustCompile(`^[A-Za-z0-9._/~+-]+$`)

func main() {
	path := "xcaddy.json"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := run(path); err != nil {
		fmt.Fprintln(os.Stderr, "buildmanifest:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("parsing %s: %w", path, err)
	}
	if !safe.MatchString(m.CaddyVersion) {
		return fmt.Errorf("caddy_version %q is not a version", m.CaddyVersion)
	}
	fmt.Println(m.CaddyVersion)
	for _, p := range m.Plugins {
		for _, v := range []string{p.Module, p.Version, p.Replace} {
			if v != "" && !safe.MatchString(v) {
				return fmt.Errorf("plugin field %q has characters a module path never has", v)
			}
		}
		arg := p.Module
		switch {
		case p.Replace != "":
			// A pinned placeholder version keeps `go get` from asking the
			// module proxy for a module that only exists locally.
			version := p.Version
			if version == "" {
				version = "v0.0.0"
			}
			arg += "@" + version + "=" + p.Replace
		case p.Version != "":
			arg += "@" + p.Version
		}
		fmt.Println("--with")
		fmt.Println(arg)
	}
	return nil
}
