package integration

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/platform"
)

// TestCLIEveryCommand runs every `caddy paas` command of the built binary
// once against a running server, in the order a user would: the app
// commands on the admin endpoint, then the remote flow (setup, login,
// tokens, an invited user's account) through the dashboard site. Each must
// exit 0 and, with --json, print the API's type. Bad input then exits 1
// with the server's message on stderr. A runnable command that no case
// covers fails the test.
func TestCLIEveryCommand(t *testing.T) {
	p := startProcess(t, envOptions{})
	c := newCLIEnv(t, p)
	started := time.Now()
	root := c.home() // the platform admin's home
	app := p.appName("cli-all")

	// Apps and deploys, on the admin endpoint.
	created := jsonOf[[]platform.AppView](t, c.local(root, "apps", "create", app, "--image", imageV1, "--port", "8080",
		"--health-path", "/health", "--env", "VERSION=v1", "--wait", "--json"))
	if len(created) != 1 || created[0].Name != app || created[0].Image != imageV1 || created[0].Current == "" {
		t.Fatalf("apps create: %+v", created)
	}
	first := created[0].Current
	if _, body := p.mustGet(app, "/"); body != "hello from v1\n" {
		t.Fatalf("after apps create: %q", body)
	}
	// A list is a JSON array even when it holds one deployment.
	if list, ok := checkJSON[[]platform.Deployment](t, c.local(root, "deploys", "list", app, "--json")); ok && (len(list) != 1 || list[0].ID != first) {
		t.Errorf("deploys list of a new app: %+v", list)
	}
	list := jsonOf[[]platform.AppView](t, c.local(root, "apps", "list", "--json"))
	if len(list) != 1 || list[0].Name != app {
		t.Errorf("apps list: %+v", list)
	}
	shown := jsonOf[platform.AppView](t, c.local(root, "apps", "show", app, "--json"))
	if shown.Name != app || shown.HealthPath != "/health" || shown.Env["VERSION"] != platform.MaskedValue {
		t.Errorf("apps show: %+v", shown)
	}
	d := jsonOf[platform.Deployment](t, c.local(root, "deploy", app, "--image", imageV2, "--wait", "--json"))
	if d.Status != platform.StatusLive || d.Image != imageV2 {
		t.Fatalf("deploy: %+v", d)
	}
	if _, body := p.mustGet(app, "/"); body != "hello v2 from v1\n" {
		t.Fatalf("after deploy: %q", body)
	}
	deploys := jsonOf[[]platform.Deployment](t, c.local(root, "deploys", "list", app, "--json"))
	if len(deploys) != 2 || deploys[0].ID != d.ID || deploys[1].ID != first {
		t.Errorf("deploys list: %+v", deploys)
	}
	if got := jsonOf[platform.Deployment](t, c.local(root, "deploys", "show", app, d.ID, "--json")); got.ID != d.ID || got.Status != platform.StatusLive {
		t.Errorf("deploys show: %+v", got)
	}
	if r := c.local(root, "deploys", "logs", app, d.ID); !strings.Contains(r.stdout, "live") {
		t.Errorf("deploys logs: %s", r)
	}

	// Env.
	if v := jsonOf[platform.AppView](t, c.local(root, "env", "set", app, "MODE=prod", "--no-deploy", "--json")); v.Deployment != "" || v.Env["MODE"] == "" {
		t.Errorf("env set --no-deploy: deployment %q, env %v", v.Deployment, v.Env)
	}
	if env := jsonOf[map[string]string](t, c.local(root, "env", "list", app, "--json")); env["MODE"] != platform.MaskedValue || env["VERSION"] != platform.MaskedValue {
		t.Errorf("env list: %v", env)
	}
	if r := c.local(root, "env", "reveal", app, "MODE", "--json"); jsonOf[map[string]string](t, r)["value"] != "prod" || !strings.Contains(r.stderr, "audit log") {
		t.Errorf("env reveal: %s", r)
	}
	if v := jsonOf[platform.AppView](t, c.local(root, "env", "unset", app, "MODE", "--no-deploy", "--json")); v.Deployment != "" || v.Env["MODE"] != "" {
		t.Errorf("env unset --no-deploy: deployment %q, env %v", v.Deployment, v.Env)
	}

	// Replicas, restarts, logs, stop and start.
	if v := jsonOf[[]platform.AppView](t, c.local(root, "scale", app, "2", "--wait", "--json")); len(v) != 1 || v[0].Replicas != 2 || v[0].ReadyReplicas != 2 {
		t.Errorf("scale 2 --wait: %+v", v)
	}
	if d := jsonOf[platform.Deployment](t, c.local(root, "restart", app, "--wait", "--json")); d.Status != platform.StatusLive {
		t.Errorf("restart --wait: %+v", d)
	}
	if r := c.local(root, "logs", app, "--tail", "5"); !strings.Contains(r.stdout, "testapp listening") {
		t.Errorf("logs --tail 5: %s", r)
	}
	// The terminal is on the dashboard site only.
	c.fails(root, "", "admin endpoint refuses WebSockets", "exec", app, "--address", c.p.adminAddr)
	if v := jsonOf[[]platform.AppView](t, c.local(root, "apps", "stop", app, "--json")); len(v) != 1 || v[0].Status != "stopped" {
		t.Errorf("apps stop: %+v", v)
	}
	if code, _ := p.mustGet(app, "/"); code != http.StatusServiceUnavailable {
		t.Errorf("stopped app answers %d, want 503", code)
	}
	if v := jsonOf[[]platform.AppView](t, c.local(root, "apps", "start", app, "--json")); len(v) != 1 || v[0].Status == "stopped" {
		t.Errorf("apps start: %+v", v)
	}
	eventually(t, 20*time.Second, "the started app serves", func() (bool, string) {
		code, body, err := p.get(app, "/")
		return code == 200 && body == "hello v2 from v1\n", fmt.Sprint(code, body, err)
	})

	// Edge: redirects, domains, certificates, maintenance, www.
	from := "old-" + app + ".example.com"
	redirs := jsonOf[[]platform.Redirect](t, c.local(root, "redirects", "add", app, "--from", from, "--to", host(app), "--status", "301", "--json"))
	if len(redirs) != 1 || redirs[0].ID == "" || redirs[0].From != from || redirs[0].Status != 301 {
		t.Fatalf("redirects add: %+v", redirs)
	}
	if got := jsonOf[[]platform.Redirect](t, c.local(root, "redirects", "list", app, "--json")); len(got) != 1 || got[0].ID != redirs[0].ID {
		t.Errorf("redirects list: %+v", got)
	}
	// Like every command, a removal prints the API's answer with --json.
	if del, ok := checkJSON[admin.Deleted](t, c.local(root, "redirects", "remove", app, redirs[0].ID, "--json")); ok && del.Deleted != redirs[0].ID {
		t.Errorf("redirects remove: %+v", del)
	}
	custom := "www." + app + ".example.com"
	if v := jsonOf[[]platform.AppView](t, c.local(root, "domains", "add", app, custom, "--json")); len(v) != 1 || !slices.Contains(v[0].Hosts, custom) {
		t.Errorf("domains add: %+v", v)
	}
	if ds := jsonOf[[]platform.DomainStatus](t, c.local(root, "domains", "list", app, "--json")); !hasDomain(ds, custom) || !hasDomain(ds, host(app)) {
		t.Errorf("domains list: %+v", ds)
	}
	certPath, keyPath := selfSignedCert(t, custom)
	certs := jsonOf[[]platform.CustomCert](t, c.local(root, "certs", "upload", app, "--cert", certPath, "--key", keyPath, "--json"))
	if len(certs) != 1 || !slices.Contains(certs[0].Hosts, custom) {
		t.Fatalf("certs upload: %+v", certs)
	}
	if got := jsonOf[[]platform.CustomCert](t, c.local(root, "certs", "list", app, "--json")); len(got) != 1 || got[0].ID != certs[0].ID {
		t.Errorf("certs list: %+v", got)
	}
	if del, ok := checkJSON[admin.Deleted](t, c.local(root, "certs", "remove", app, certs[0].ID, "--json")); ok && del.Deleted != certs[0].ID {
		t.Errorf("certs remove: %+v", del)
	}
	if v := jsonOf[[]platform.AppView](t, c.local(root, "domains", "remove", app, custom, "--json")); len(v) != 1 || slices.Contains(v[0].Hosts, custom) {
		t.Errorf("domains remove: %+v", v)
	}
	jsonOf[[]platform.AppView](t, c.local(root, "apps", "maintenance", app, "on", "--message", "back at ten", "--json"))
	if code, body := p.mustGet(app, "/"); code != http.StatusServiceUnavailable || !strings.Contains(body, "back at ten") {
		t.Errorf("in maintenance: %d %q", code, body)
	}
	jsonOf[[]platform.AppView](t, c.local(root, "apps", "maintenance", app, "off", "--json"))
	if code, _ := p.mustGet(app, "/"); code != http.StatusOK {
		t.Errorf("after maintenance off: %d", code)
	}
	jsonOf[[]platform.AppView](t, c.local(root, "apps", "www", app, "to-apex", "--json"))
	jsonOf[[]platform.AppView](t, c.local(root, "apps", "www", app, "off", "--json"))
	if v := jsonOf[[]platform.AppView](t, c.local(root, "apps", "hsts", app, "on", "--json")); len(v) != 1 || !v[0].HSTS {
		t.Errorf("apps hsts on: %+v", v)
	}
	if v := jsonOf[[]platform.AppView](t, c.local(root, "apps", "hsts", app, "off", "--json")); len(v) != 1 || v[0].HSTS {
		t.Errorf("apps hsts off: %+v", v)
	}
	if k := jsonOf[map[string]string](t, c.local(root, "apps", "deploy-key", app, "--json")); !strings.HasPrefix(k["public_key"], "ssh-") {
		t.Errorf("apps deploy-key: %v", k)
	}
	if w := jsonOf[platform.WebhookInfo](t, c.local(root, "webhook", "show", app, "--json")); w.Paths["github"] == "" || w.Secret != "" {
		t.Errorf("webhook show: %+v", w)
	}
	if w := jsonOf[platform.WebhookInfo](t, c.local(root, "webhook", "rotate-secret", app, "--json")); w.Secret == "" {
		t.Errorf("webhook rotate-secret: %+v", w)
	}
	// detect runs on this machine, with no server.
	site := t.TempDir()
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte("<h1>hi</h1>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := jsonOf[map[string]any](t, c.local(root, "detect", site, "--json")); got["stack"] != "static" || !strings.Contains(fmt.Sprint(got["generated_dockerfile"]), "FROM caddy:2-alpine") {
		t.Errorf("detect: %v", got)
	}

	// A deploy that cannot get healthy soon is canceled; the previous
	// version keeps serving.
	slow := jsonOf[platform.Deployment](t, c.local(root, "deploy", app, "--env", "HEALTHY_AFTER=10m", "--json"))
	if got := jsonOf[platform.Deployment](t, c.local(root, "deploys", "cancel", app, slow.ID, "--json")); got.ID != slow.ID {
		t.Errorf("deploys cancel: %+v", got)
	}
	if final := p.wait(app, slow.ID); final.Status != platform.StatusFailed {
		t.Errorf("canceled deploy: %s (%s), want failed", final.Status, final.Reason)
	}
	c.local(root, "env", "unset", app, "HEALTHY_AFTER", "--no-deploy")
	rb := jsonOf[platform.Deployment](t, c.local(root, "rollback", app, first, "--wait", "--json"))
	if rb.Status != platform.StatusLive || rb.Image != imageV1 {
		t.Errorf("rollback --wait: %+v", rb)
	}
	if _, body := p.mustGet(app, "/"); body != "hello from v1\n" {
		t.Errorf("after rollback: %q", body)
	}

	// Users, teams, members, the audit log, the master key.
	const alicePW = "alice's long password 1"
	cu := jsonOf[auth.CreatedUser](t, c.ok(root, alicePW+"\n", "users", "create", "alice@example.com", "--name", "Alice", "--password-stdin", "--address", p.adminAddr, "--json"))
	if cu.User.Email != "alice@example.com" || cu.GeneratedPassword != "" {
		t.Errorf("users create: %+v", cu)
	}
	if users := jsonOf[[]auth.User](t, c.local(root, "users", "list", "--json")); !hasUser(users, "alice@example.com") {
		t.Errorf("users list: %+v", users)
	}
	if u := jsonOf[auth.User](t, c.local(root, "users", "show", "alice@example.com", "--json")); u.ID != cu.User.ID || u.Name != "Alice" {
		t.Errorf("users show: %+v", u)
	}
	if u := jsonOf[[]auth.User](t, c.local(root, "users", "update", "alice@example.com", "--name", "Alice B", "--json")); len(u) != 1 || u[0].Name != "Alice B" {
		t.Errorf("users update: %+v", u)
	}
	team := "backend"
	if tv := jsonOf[[]auth.TeamView](t, c.local(root, "teams", "create", team, "--json")); len(tv) != 1 || tv[0].Name != team {
		t.Errorf("teams create: %+v", tv)
	}
	if tv := jsonOf[[]auth.TeamView](t, c.local(root, "teams", "list", "--json")); !hasTeam(tv, team) || !hasTeam(tv, "default") {
		t.Errorf("teams list: %+v", tv)
	}
	if mr := jsonOf[auth.MemberResult](t, c.local(root, "members", "add", team, "alice@example.com", "--role", "developer", "--json")); mr.Member == nil || mr.Member.Role != auth.RoleDeveloper {
		t.Errorf("members add: %+v", mr)
	}
	if m := jsonOf[auth.Member](t, c.local(root, "members", "set", team, "alice@example.com", "--role", "admin", "--json")); m.Role != auth.RoleAdmin || m.UserID != cu.User.ID {
		t.Errorf("members set: %+v", m)
	}
	if tv := jsonOf[auth.TeamView](t, c.local(root, "teams", "show", team, "--json")); len(tv.Members) != 1 || tv.Members[0].Role != auth.RoleAdmin {
		t.Errorf("teams show: %+v", tv)
	}
	jsonOf[map[string]string](t, c.local(root, "members", "remove", team, "alice@example.com", "--json"))
	jsonOf[map[string]string](t, c.local(root, "teams", "delete", team, "--json"))
	jsonOf[map[string]string](t, c.local(root, "users", "delete", "alice@example.com", "--json"))
	if entries := jsonOf[[]auth.AuditEntry](t, c.local(root, "audit", "--limit", "5", "--json")); len(entries) != 5 || entries[0].Action != "users.delete" {
		t.Errorf("audit --limit 5: %+v", entries)
	}
	if k := jsonOf[map[string]string](t, c.local(root, "secrets", "rotate-key", "--json")); k["key_id"] == "" {
		t.Errorf("secrets rotate-key: %v", k)
	}
	var doc map[string]any
	if r := c.local(root, "openapi"); json.Unmarshal([]byte(r.stdout), &doc) != nil || doc["openapi"] != "3.1.0" {
		t.Errorf("openapi: %.300s", r.stdout)
	}
	if st := jsonOf[platform.Status](t, c.local(root, "status", "--json")); st.Apps != 1 {
		t.Errorf("status: %+v", st)
	}
	if w := jsonOf[map[string]string](t, c.local(root, "whoami", "--json")); w["target"] != "local" || w["address"] != p.adminAddr {
		t.Errorf("whoami (local): %v", w)
	}
	c.mcpSession(root, app)

	// The remote flow through the dashboard site: the first admin signs
	// up with the setup token from the log.
	setupToken := ""
	eventually(t, 10*time.Second, "setup token logged", func() (bool, string) {
		data, _ := os.ReadFile(p.logPath)
		if m := setupTokenRE.FindSubmatch(data); m != nil {
			setupToken = string(m[1])
			return true, ""
		}
		return false, "not yet"
	})
	const rootPW = "root's long password 1"
	login := jsonOf[map[string]any](t, c.ok(root, setupToken+"\n"+rootPW+"\n", "setup", c.server, "--email", "root@example.com", "--name", "Root", "--json"))
	if login["server"] != c.server || login["email"] != "root@example.com" || login["scope"] != "admin" || login["token_id"] == "" {
		t.Fatalf("setup: %v", login)
	}
	if cred := login["credentials"]; cred != filepath.Join(root, ".config", "caddy-paas", "credentials.json") {
		t.Errorf("credentials stored in %v, want in the test's config directory", cred)
	}
	who := jsonOf[struct {
		Target string   `json:"target"`
		Server string   `json:"server"`
		Source string   `json:"source"`
		Me     admin.Me `json:"me"`
	}](t, c.ok(root, "", "whoami", "--json"))
	if who.Target != "remote" || who.Server != c.server || who.Me.User == nil || who.Me.User.Email != "root@example.com" || who.Me.Token == nil {
		t.Errorf("whoami (remote): %+v", who)
	}
	if remote := jsonOf[[]platform.AppView](t, c.ok(root, "", "apps", "list", "--json")); len(remote) != 1 || remote[0].Name != app {
		t.Errorf("apps list through the server: %+v", remote)
	}
	ci := jsonOf[auth.CreatedToken](t, c.ok(root, rootPW+"\n", "tokens", "create", "--team", "default", "--scope", "read", "--name", "ci", "--expires-in-days", "1", "--json"))
	if !strings.HasPrefix(ci.Secret, "cpaas_") || ci.Scope != auth.ScopeRead {
		t.Fatalf("tokens create: %+v", ci)
	}
	if toks := jsonOf[[]auth.Token](t, c.ok(root, rootPW+"\n", "tokens", "list", "--json")); len(toks) != 2 || !hasToken(toks, ci.ID) || !hasToken(toks, fmt.Sprint(login["token_id"])) {
		t.Errorf("tokens list: %+v", toks)
	}
	jsonOf[map[string]any](t, c.ok(root, "", "logout", "--json"))
	// An existing token, given on stdin.
	if got := jsonOf[map[string]any](t, c.ok(root, ci.Secret+"\n", "login", c.server, "--token-stdin", "--json")); got["token_id"] != ci.ID || got["scope"] != "read" {
		t.Errorf("login --token-stdin: %v", got)
	}
	if st := jsonOf[platform.Status](t, c.ok(root, "", "status", "--json")); st.Apps != 1 {
		t.Errorf("status through the server: %+v", st)
	}
	// A read token cannot restart: the server's message, exit 1.
	reader := p.publicClient()
	reader.bearer = ci.Secret
	if status, msg := reader.call(http.MethodPost, "/api/v1/apps/"+app+"/restart", nil, nil); status != http.StatusForbidden {
		t.Errorf("a read token restarting an app: %d %s, want 403", status, msg)
	} else {
		c.fails(root, "", msg, "restart", app)
	}
	// Logout revokes the token it forgets.
	if out := jsonOf[map[string]any](t, c.ok(root, "", "logout", "--json")); out["revoked"] != true {
		t.Errorf("logout did not revoke the token: %v", out)
	}
	if status, _ := reader.call(http.MethodGet, "/api/v1/me", nil, nil); status != http.StatusUnauthorized {
		t.Errorf("the token after logout: %d, want 401", status)
	}
	// A password login makes a new CLI token.
	if got := jsonOf[map[string]any](t, c.ok(root, rootPW+"\n", "login", c.server, "--email", "root@example.com", "--json")); got["scope"] != "admin" {
		t.Errorf("login: %v", got)
	}
	// A command in a replica's TTY, through the dashboard site with the
	// user's session (the image has no shell: its own binary).
	if r := c.ok(root, rootPW+"\n", "exec", app, "--", "/app", "release"); !strings.Contains(r.stdout, "release ran for") {
		t.Errorf("exec: %s", r)
	}
	spare := jsonOf[auth.CreatedToken](t, c.ok(root, rootPW+"\n", "tokens", "create", "--team", "default", "--scope", "read", "--name", "spare", "--json"))
	if del := jsonOf[admin.Deleted](t, c.ok(root, rootPW+"\n", "tokens", "delete", spare.ID, "--json")); del.Deleted != spare.ID {
		t.Errorf("tokens delete: %+v", del)
	}

	// An invited user signs up, changes their password and turns two-factor
	// authentication on and off.
	bob := c.home()
	inv := jsonOf[auth.MemberResult](t, c.local(root, "members", "add", "default", "bob@example.com", "--role", "developer", "--json"))
	if inv.InviteToken == "" || inv.Member != nil {
		t.Fatalf("members add of a new person: %+v", inv)
	}
	const bobPW, bobPW2 = "bob's long password 1", "bob's longer password 2"
	if got := jsonOf[map[string]any](t, c.ok(bob, inv.InviteToken+"\n"+bobPW+"\n", "accept-invite", c.server, "--name", "Bob", "--json")); got["email"] != "bob@example.com" || got["scope"] != "deploy" {
		t.Errorf("accept-invite: %v", got)
	}
	if res := jsonOf[admin.Result](t, c.ok(bob, bobPW+"\n"+bobPW2+"\n", "account", "password", "--json")); res.Result == "" {
		t.Errorf("account password: %+v", res)
	}
	r := c.interactive(bob, []string{"account", "totp", "enable", "--json"}, func(stdin io.WriteCloser, _, stderr io.Reader) {
		fmt.Fprintln(stdin, bobPW2)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if secret, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "secret: "); ok {
				code, err := totp.GenerateCode(secret, time.Now())
				if err != nil {
					t.Errorf("TOTP code of %q: %v", secret, err)
				}
				fmt.Fprintln(stdin, code)
				return
			}
		}
	})
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	rc := jsonOf[auth.RecoveryCodes](t, r)
	if len(rc.Codes) == 0 {
		t.Fatalf("account totp enable: no recovery codes: %s", r)
	}
	if st := jsonOf[admin.TOTPState](t, c.ok(bob, bobPW2+"\n"+rc.Codes[0]+"\n", "account", "totp", "disable", "--json")); st.TOTPEnabled {
		t.Errorf("account totp disable: %+v", st)
	}
	jsonOf[map[string]any](t, c.ok(bob, "", "logout", "--json"))

	// Errors exit 1 with the server's message, locally and remotely.
	missing := p.appName("nope")
	c.fails(root, "", c.apiError(http.MethodGet, "/apps/"+missing, nil), "apps", "show", missing, "--address", p.adminAddr)
	c.fails(root, "", c.apiError(http.MethodGet, "/apps/"+missing, nil), "apps", "show", missing)
	c.fails(root, "", c.apiError(http.MethodPost, "/apps", map[string]any{"name": "Bad", "image": imageV1, "env": map[string]string{}}),
		"apps", "create", "Bad", "--image", imageV1, "--address", p.adminAddr)
	c.fails(root, "", c.apiError(http.MethodPost, "/teams/default/members", map[string]any{"email": "carol@example.com", "role": "boss"}),
		"members", "add", "default", "carol@example.com", "--role", "boss", "--address", p.adminAddr)
	c.fails(root, "", c.apiError(http.MethodPost, "/apps/"+app+"/deploys", map[string]any{"image": "paas-test/nope:404"}),
		"deploy", app, "--image", "paas-test/nope:404", "--address", p.adminAddr)
	c.fails(root, "", c.apiError(http.MethodGet, "/apps/"+app+"/deploys/d_0000000000000000", nil),
		"deploys", "show", app, "d_0000000000000000", "--address", p.adminAddr)
	c.fails(root, "", c.apiError(http.MethodDelete, "/teams/ghosts", nil), "teams", "delete", "ghosts", "--address", p.adminAddr)
	c.fails(root, "", "accepts 1 arg(s), received 0", "apps", "delete", "--address", p.adminAddr)
	c.fails(root, "", "no user with the email nobody@example.com", "users", "show", "nobody@example.com", "--address", p.adminAddr)
	if status, msg := p.publicClient().call(http.MethodPost, "/api/v1/auth/login", auth.LoginInput{Email: "bob@example.com", Password: "not the password"}, nil); status != http.StatusUnauthorized {
		t.Errorf("login with a wrong password: %d %s, want 401", status, msg)
	} else {
		c.fails(bob, "not the password\n", msg, "login", c.server, "--email", "bob@example.com")
	}

	// Last, the remote session ends and the app goes.
	jsonOf[map[string]any](t, c.ok(root, "", "logout", "--json"))
	if out := jsonOf[map[string]string](t, c.local(root, "apps", "delete", app, "--json")); out["deleted"] != app {
		t.Errorf("apps delete: %v", out)
	}
	if n := len(p.containers(t.Context(), app)); n != 0 {
		t.Errorf("%d containers after apps delete", n)
	}
	c.checkCoverage()
	t.Logf("every command ran in %s", time.Since(started).Round(time.Millisecond))
}

// mcpSession runs `caddy paas mcp` on the admin endpoint and talks
// JSON-RPC to it over its stdin and stdout: initialize, list the tools,
// call apps_list; closing stdin ends it with exit 0.
func (c *cliEnv) mcpSession(home, app string) {
	t := c.t
	t.Helper()
	r := c.interactive(home, []string{"mcp", "--address", c.p.adminAddr}, func(stdin io.WriteCloser, stdout, _ io.Reader) {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 16<<20)
		call := func(id int, method string, params any) json.RawMessage {
			t.Helper()
			msg, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
			fmt.Fprintf(stdin, "%s\n", msg)
			for sc.Scan() {
				var ans struct {
					ID     *int            `json:"id"`
					Result json.RawMessage `json:"result"`
					Error  json.RawMessage `json:"error"`
				}
				if err := json.Unmarshal(sc.Bytes(), &ans); err != nil {
					t.Errorf("mcp: a line of stdout is not JSON: %v: %.200s", err, sc.Text())
					return nil
				}
				if ans.ID == nil || *ans.ID != id {
					continue // a notification
				}
				if ans.Error != nil {
					t.Errorf("mcp %s: %s", method, ans.Error)
				}
				return ans.Result
			}
			t.Errorf("mcp %s: no answer (%v)", method, sc.Err())
			return nil
		}
		call(1, "initialize", map[string]any{"protocolVersion": "2025-03-26", "capabilities": map[string]any{},
			"clientInfo": map[string]any{"name": "cli-test", "version": "1"}})
		fmt.Fprintln(stdin, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		var tools struct {
			Tools []struct {
				Name string `json:"name"`
			} `json:"tools"`
		}
		if err := json.Unmarshal(call(2, "tools/list", map[string]any{}), &tools); err != nil || len(tools.Tools) < 10 {
			t.Errorf("mcp tools/list: %d tools, %v", len(tools.Tools), err)
		}
		res := call(3, "tools/call", map[string]any{"name": "apps_list", "arguments": map[string]any{}})
		if !strings.Contains(string(res), app) {
			t.Errorf("mcp apps_list does not list %s: %.300s", app, res)
		}
	})
	if r.code != 0 {
		t.Errorf("mcp: %s", r)
	}
}

// selfSignedCert writes a certificate for host and its key.
func selfSignedCert(t *testing.T, host string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		Issuer:       pkix.Name{CommonName: "cli test"},
		DNSNames:     []string{host},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

func hasDomain(list []platform.DomainStatus, d string) bool {
	for _, x := range list {
		if x.Domain == d {
			return true
		}
	}
	return false
}

func hasUser(list []auth.User, email string) bool {
	for _, u := range list {
		if u.Email == email {
			return true
		}
	}
	return false
}

func hasTeam(list []auth.TeamView, name string) bool {
	for _, tv := range list {
		if tv.Name == name {
			return true
		}
	}
	return false
}

func hasToken(list []auth.Token, id string) bool {
	for _, tk := range list {
		if tk.ID == id {
			return true
		}
	}
	return false
}
