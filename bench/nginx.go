package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// nginxConf is nginx as a plain reverse proxy to the backend: as many
// workers as cores, upstream keep-alive (64 idle connections, one per
// client connection of the load), and no access log, like Caddy with no
// log configured. keepalive_requests is raised on both sides because Caddy
// does not limit requests per connection either; the comparison is of
// proxies, not of connection limits. Every path is in the bench's own
// folder (prefix -p), so no root-owned default is touched.
const nginxConf = `worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
daemon off;
events {
	worker_connections 4096;
}
http {
	access_log off;
	client_body_temp_path %[1]s/client_body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	keepalive_requests 10000000;
	upstream backend {
		server %[2]s;
		keepalive 64;
		keepalive_requests 10000000;
	}
	server {
		listen %[3]s;
		location / {
			proxy_pass http://backend;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
		}
	}
}
`

// findNginx returns the path of nginx, or "" when it is not installed.
func findNginx(flagPath string) string {
	switch flagPath {
	case "none":
		return ""
	case "":
	default:
		return flagPath
	}
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	return ""
}

// startNginx runs nginx in the foreground from dir, proxying listen to
// backend.
func startNginx(ctx context.Context, bin, dir, listen, backend string) (*child, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("nginx: creating %s: %w", dir, err)
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, backend, listen)), 0o644); err != nil {
		return nil, fmt.Errorf("nginx: writing its config: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
	// SIGTERM is nginx's fast shutdown: the master stops its workers.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	c, _, err := startChild(ctx, "nginx", cmd, false)
	if err != nil {
		return nil, err
	}
	if err := waitTCP(ctx, listen, 10*time.Second); err != nil {
		c.stop()
		log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
		return nil, fmt.Errorf("nginx: %w; its log: %s", err, strings.TrimSpace(truncate(string(log), 600)))
	}
	return c, nil
}
