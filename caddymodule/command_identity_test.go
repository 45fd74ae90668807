package caddymodule

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/containers"
	"github.com/caddy-paas/caddy-paas/platform"
	"github.com/caddy-paas/caddy-paas/storage"
)

// cliEnv is the real admin API of a data directory (identity service,
// engine, key rotation) served over HTTP, for the CLI to talk to.
type cliEnv struct {
	addr   string
	dir    string
	auth   *auth.Service
	engine *platform.Engine
	sealer *storage.Sealer
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	// Rotation refuses a key from the environment.
	t.Setenv(storage.MasterKeyEnv, "")
	dir := t.TempDir()
	db, err := storage.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	sealer, err := storage.OpenSealer(dir, db)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(db, sealer, auth.Config{}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	// No Docker is needed: the apps of these tests never run a container.
	docker, err := containers.NewDocker("unix://" + filepath.Join(t.TempDir(), "no-docker.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docker.Close() })
	store := platform.NewStore(db, sealer)
	engine := platform.NewEngine(platform.Config{BaseDomain: "cli.test", LogDir: filepath.Join(dir, "logs"), WorkDir: filepath.Join(dir, "work")},
		store, docker, zap.NewNop())
	t.Cleanup(engine.Close)
	backend := &admin.Backend{Engine: engine, Auth: svc, RotateKey: func(ctx context.Context) (string, error) {
		return storage.RotateMasterKey(dir, db, sealer, store, svc)
	}}
	srv := httptest.NewServer(admin.New("/paas", admin.SurfaceAdmin, func() (*admin.Backend, error) { return backend, nil }))
	t.Cleanup(srv.Close)
	return &cliEnv{addr: strings.TrimPrefix(srv.URL, "http://"), dir: dir, auth: svc, engine: engine, sealer: sealer}
}

// run runs `caddy paas ARGS --address ADDR` with stdin, as the caddy
// command does, and returns what it printed.
func (e *cliEnv) run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := &cobra.Command{Use: "paas", SilenceUsage: true, SilenceErrors: true}
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	buildCommands(root)
	root.SetArgs(append(args, "--address", e.addr))
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// must runs a command that must succeed.
func (e *cliEnv) must(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := e.run(t, "", args...)
	if err != nil {
		t.Fatalf("paas %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, stderr)
	}
	return out
}

var generatedRE = regexp.MustCompile(`generated password \(shown only this once\): (\S+)`)

func (e *cliEnv) login(t *testing.T, email, password string) error {
	t.Helper()
	_, _, err := e.auth.Login(context.Background(), auth.LoginInput{Email: email, Password: password}, auth.RequestInfo{ClientIP: "192.0.2.1"})
	return err
}

func (e *cliEnv) user(t *testing.T, email string) auth.User {
	t.Helper()
	list, err := e.auth.Users()
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range list {
		if u.Email == email {
			return u
		}
	}
	t.Fatalf("no user %s in %+v", email, list)
	return auth.User{}
}

func TestCLIUsersCreate(t *testing.T) {
	e := newCLIEnv(t)

	// The flag before the email, as in `caddy paas users create --admin EMAIL`.
	out := e.must(t, "users", "create", "--admin", "alice@example.com")
	m := generatedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no generated password in:\n%s", out)
	}
	pw := m[1]
	if n := strings.Count(out, pw); n != 1 {
		t.Errorf("the generated password is printed %d times:\n%s", n, out)
	}
	if !strings.Contains(out, "change it after their first login") {
		t.Errorf("no advice to change the password:\n%s", out)
	}
	if !strings.Contains(out, "alice@example.com") {
		t.Errorf("no user row:\n%s", out)
	}
	if err := e.login(t, "alice@example.com", pw); err != nil {
		t.Fatalf("login with the generated password: %v", err)
	}
	if u := e.user(t, "alice@example.com"); !u.Admin {
		t.Errorf("alice is not admin: %+v", u)
	}

	// The flags after the email.
	out = e.must(t, "users", "create", "bob@example.com", "--admin", "--name", "Bob")
	if generatedRE.FindStringSubmatch(out) == nil {
		t.Fatalf("no generated password in:\n%s", out)
	}
	if u := e.user(t, "bob@example.com"); !u.Admin || u.Name != "Bob" {
		t.Errorf("bob: %+v, want admin named Bob", u)
	}

	// No flag: not an admin.
	e.must(t, "users", "create", "dave@example.com")
	if u := e.user(t, "dave@example.com"); u.Admin {
		t.Errorf("dave is admin: %+v", u)
	}

	// --password-stdin: one line, its newline trimmed; never printed.
	const chosen = "correct horse battery staple"
	out, stderr, err := e.run(t, chosen+"\r\nsecond line\n", "users", "create", "--password-stdin", "carol@example.com")
	if err != nil {
		t.Fatalf("users create --password-stdin: %v (%s)", err, stderr)
	}
	if strings.Contains(out+stderr, chosen) || strings.Contains(out, "generated password") {
		t.Errorf("the password shows in the output:\n%s%s", out, stderr)
	}
	if err := e.login(t, "carol@example.com", chosen); err != nil {
		t.Fatalf("login with the password from stdin: %v", err)
	}
	if _, _, err := e.run(t, "", "users", "create", "erin@example.com", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "stdin has no password") {
		t.Errorf("empty stdin: err = %v", err)
	}

	if _, _, err := e.run(t, "short\n", "users", "create", "erin@example.com", "--password-stdin"); err == nil || !strings.HasPrefix(err.Error(), "--password-stdin: password must be at least") {
		t.Errorf("short password: err = %v", err)
	}

	// --json: the list parses, and holds no password of any kind.
	out = e.must(t, "users", "list", "--json")
	var list []auth.User
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("users list --json: %v\n%s", err, out)
	}
	var emails []string
	for _, u := range list {
		emails = append(emails, u.Email)
	}
	if got := strings.Join(emails, ","); got != "alice@example.com,bob@example.com,carol@example.com,dave@example.com" {
		t.Errorf("users: %s", got)
	}
	if strings.Contains(out, "password") || strings.Contains(out, pw) {
		t.Errorf("users list shows a password:\n%s", out)
	}
	out = e.must(t, "users", "list")
	if !strings.HasPrefix(out, "ID") || strings.Count(out, "\n") != 5 {
		t.Errorf("users list table:\n%s", out)
	}

	// --json on create shows the generated password once, in its field.
	out = e.must(t, "users", "create", "frank@example.com", "--json")
	var created auth.CreatedUser
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.GeneratedPassword == "" || created.Email != "frank@example.com" {
		t.Fatalf("users create --json: %v %+v\n%s", err, created, out)
	}
	if err := e.login(t, "frank@example.com", created.GeneratedPassword); err != nil {
		t.Fatal(err)
	}
}

func TestCLIUsersShowUpdateDelete(t *testing.T) {
	e := newCLIEnv(t)
	e.must(t, "users", "create", "--admin", "alice@example.com")
	e.must(t, "users", "create", "bob@example.com")
	bob := e.user(t, "bob@example.com")

	for _, arg := range []string{bob.ID, "bob@example.com"} {
		out := e.must(t, "users", "show", arg)
		if !strings.Contains(out, "id:") || !strings.Contains(out, bob.ID) || !strings.Contains(out, "admin:") {
			t.Errorf("users show %s:\n%s", arg, out)
		}
	}

	e.must(t, "users", "update", "bob@example.com", "--admin=true", "--name", "Robert")
	if u := e.user(t, "bob@example.com"); !u.Admin || u.Name != "Robert" || u.Disabled {
		t.Errorf("after update: %+v", u)
	}
	// Only the flags given change.
	e.must(t, "users", "update", bob.ID, "--disabled=true")
	if u := e.user(t, "bob@example.com"); !u.Admin || u.Name != "Robert" || !u.Disabled {
		t.Errorf("after --disabled: %+v", u)
	}
	e.must(t, "users", "update", bob.ID, "--disabled=false", "--admin=false")
	if u := e.user(t, "bob@example.com"); u.Admin || u.Disabled || u.Name != "Robert" {
		t.Errorf("after --disabled=false --admin=false: %+v", u)
	}
	const next = "a brand new passphrase"
	out, stderr, err := e.run(t, next+"\n", "users", "update", bob.ID, "--password-stdin")
	if err != nil || strings.Contains(out+stderr, next) {
		t.Fatalf("update --password-stdin: %v\n%s%s", err, out, stderr)
	}
	if err := e.login(t, "bob@example.com", next); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}

	if _, _, err := e.run(t, "", "users", "update", bob.ID); err == nil || !strings.Contains(err.Error(), "nothing to change") {
		t.Errorf("update without flags: %v", err)
	}
	if _, _, err := e.run(t, "", "users", "update", bob.ID, "--admin", "false"); err == nil || !strings.Contains(err.Error(), "--admin=false") {
		t.Errorf("update --admin false: %v", err)
	}
	// The server's message comes through.
	alice := e.user(t, "alice@example.com")
	if _, _, err := e.run(t, "", "users", "update", alice.ID, "--admin=false"); err == nil || err.Error() != "this is the last platform admin: make another user admin first" {
		t.Errorf("demoting the last admin: %v", err)
	}

	out = e.must(t, "users", "delete", "bob@example.com")
	if !strings.Contains(out, "deleted user bob@example.com") {
		t.Errorf("users delete: %s", out)
	}
	if _, _, err := e.run(t, "", "users", "show", bob.ID); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("show after delete: %v", err)
	}
	if _, _, err := e.run(t, "", "users", "show", "nobody@example.com"); err == nil || err.Error() != "no user with the email nobody@example.com" {
		t.Errorf("show unknown email: %v", err)
	}
}

func TestCLITeamsMembersAudit(t *testing.T) {
	e := newCLIEnv(t)
	e.must(t, "users", "create", "--admin", "alice@example.com")
	e.must(t, "users", "create", "bob@example.com")
	bob := e.user(t, "bob@example.com")

	out := e.must(t, "teams", "create", "backend")
	if !strings.Contains(out, "backend") {
		t.Errorf("teams create: %s", out)
	}
	out = e.must(t, "teams", "list")
	if !strings.Contains(out, "backend") || !strings.Contains(out, "default") {
		t.Errorf("teams list: %s", out)
	}

	out = e.must(t, "members", "add", "backend", "bob@example.com", "--role", "developer")
	if !strings.Contains(out, bob.ID) || !strings.Contains(out, "developer") {
		t.Errorf("members add: %s", out)
	}
	out = e.must(t, "teams", "show", "backend")
	if !strings.Contains(out, "USER_ID") || !regexp.MustCompile(bob.ID+`\s+bob@example.com\s+-\s+developer`).MatchString(out) {
		t.Errorf("teams show: members table:\n%s", out)
	}
	var view auth.TeamView
	if err := json.Unmarshal([]byte(e.must(t, "teams", "show", "backend", "--json")), &view); err != nil || len(view.Members) != 1 || view.Members[0].Role != auth.RoleDeveloper {
		t.Errorf("teams show --json: %v %+v", err, view)
	}

	// Someone with no account: an invitation token that works.
	out = e.must(t, "members", "add", "backend", "new.hire@example.com", "--role", "viewer")
	m := regexp.MustCompile(`invitation token \(shown only this once\): (\S+)`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "expires: ") || !strings.Contains(out, "/api/v1/auth/invites/accept") {
		t.Fatalf("members add of an unknown email:\n%s", out)
	}
	u, _, err := e.auth.AcceptInvite(context.Background(), auth.AcceptInviteInput{Token: m[1], Password: "welcome aboard friend"}, auth.RequestInfo{ClientIP: "192.0.2.1"})
	if err != nil || u.Email != "new.hire@example.com" {
		t.Fatalf("accepting the printed invitation: %v %+v", err, u)
	}

	// Roles: by id or email.
	out = e.must(t, "members", "set", "backend", "new.hire@example.com", "--role", "admin")
	if !strings.Contains(out, "new.hire@example.com") || !strings.Contains(out, "admin") {
		t.Errorf("members set: %s", out)
	}
	out = e.must(t, "members", "remove", "backend", bob.ID)
	if !strings.Contains(out, "removed "+bob.ID+" from team backend") {
		t.Errorf("members remove: %s", out)
	}
	view = auth.TeamView{}
	if err := json.Unmarshal([]byte(e.must(t, "teams", "show", "backend", "--json")), &view); err != nil || len(view.Members) != 1 || view.Members[0].Email != "new.hire@example.com" || view.Members[0].Role != auth.RoleAdmin {
		t.Errorf("after set and remove: %v %+v", err, view)
	}

	// Bad input: the server's message.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"members", "add", "backend", "x@example.com", "--role", "king"}, "role must be one of owner, admin, developer, viewer"},
		{[]string{"teams", "show", "nope"}, `team "nope" not found`},
		{[]string{"teams", "create", "Bad_Name"}, `team name "Bad_Name" is invalid`},
		{[]string{"users", "create", "not-an-email"}, "email is not a valid address"},
		{[]string{"audit", "--limit", "0"}, "limit must be a positive number"},
	} {
		_, _, err := e.run(t, "", tc.args...)
		var apiErr *admin.APIError
		if !errors.As(err, &apiErr) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("paas %s: err = %v, want the server's %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	if _, _, err := e.run(t, "", "members", "add", "backend", "x@example.com"); err == nil || !strings.Contains(err.Error(), `"role" not set`) {
		t.Errorf("members add without --role: %v", err)
	}

	// The audit log holds all of the above, newest first.
	out = e.must(t, "audit", "--json")
	var entries []auth.AuditEntry
	if err := json.Unmarshal([]byte(out), &entries); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, out)
	}
	var actions []string
	for i := len(entries) - 1; i >= 0; i-- {
		actions = append(actions, entries[i].Action)
	}
	want := []string{"users.create", "users.create", "teams.create", "members.add", "members.add", "members.update", "members.remove",
		"members.add", "teams.create", "users.create"}
	if strings.Join(actions, " ") != strings.Join(want, " ") {
		t.Errorf("audit actions:\n got %v\nwant %v", actions, want)
	}
	if entries[0].Status != 400 || entries[0].Result != "email is not a valid address" || entries[0].Actor != "local admin endpoint" {
		t.Errorf("newest entry: %+v", entries[0])
	}
	out = e.must(t, "audit")
	if !strings.HasPrefix(out, "ID") || !strings.Contains(out, "TIME") || !regexp.MustCompile(`local admin endpoint\s+members.remove\s+/teams/backend/members/`+bob.ID+`\s+200\s+ok`).MatchString(out) {
		t.Errorf("audit table:\n%s", out)
	}
	out, stderr, err := e.run(t, "", "audit", "--limit", "2")
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(stderr, "--before "+jsonNumber(entries[1].ID)) {
		t.Errorf("audit --limit 2: %v\n%s%s", err, out, stderr)
	}
	// Paging back from the newest entry, one team's entries only.
	var backend []auth.AuditEntry
	if err := json.Unmarshal([]byte(e.must(t, "audit", "--team", "backend", "--before", jsonNumber(entries[0].ID), "--json")), &backend); err != nil {
		t.Fatal(err)
	}
	for _, en := range backend {
		if en.Team != "backend" {
			t.Errorf("audit --team backend: %+v", en)
		}
	}
	if len(backend) != 6 {
		t.Errorf("audit --team backend: %d entries, want 6", len(backend))
	}

	// A team with no app goes; the default team holds apps.
	out = e.must(t, "teams", "delete", "backend")
	if !strings.Contains(out, "deleted team backend") {
		t.Errorf("teams delete: %s", out)
	}
	if _, err := e.engine.CreateApp(context.Background(), platform.AppInput{Name: "blog"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.run(t, "", "teams", "delete", "default"); err == nil || err.Error() != `team "default" still has apps: delete or move them first` {
		t.Errorf("deleting a team with apps: %v", err)
	}
}

func jsonNumber(n uint64) string { b, _ := json.Marshal(n); return string(b) }

func TestCLIEnvAndKeyRotation(t *testing.T) {
	e := newCLIEnv(t)
	const secret = "postgres://app:S3cr3t@db/app"
	if _, err := e.engine.CreateApp(context.Background(), platform.AppInput{Name: "blog", Env: map[string]string{"DATABASE_URL": secret, "MODE": "prod"}}); err != nil {
		t.Fatal(err)
	}
	out := e.must(t, "env", "list", "blog")
	if strings.Contains(out, secret) || strings.Contains(out, "prod") || !strings.Contains(out, "DATABASE_URL") || !strings.Contains(out, platform.MaskedValue) {
		t.Errorf("env list:\n%s", out)
	}
	var masked map[string]string
	if err := json.Unmarshal([]byte(e.must(t, "env", "list", "blog", "--json")), &masked); err != nil || len(masked) != 2 {
		t.Errorf("env list --json: %v %v", err, masked)
	}

	out, stderr, err := e.run(t, "", "env", "reveal", "blog", "DATABASE_URL")
	if err != nil || out != secret+"\n" || !strings.Contains(stderr, "audit") || strings.Contains(stderr, secret) {
		t.Errorf("env reveal: %v\nstdout %q\nstderr %q", err, out, stderr)
	}
	if _, _, err := e.run(t, "", "env", "reveal", "blog", "NOPE"); err == nil || err.Error() != `app "blog" has no env variable "NOPE"` {
		t.Errorf("reveal of an unknown key: %v", err)
	}
	if _, _, err := e.run(t, "", "env", "list", "ghost"); err == nil || !strings.Contains(err.Error(), `app "ghost" not found`) {
		t.Errorf("env list of an unknown app: %v", err)
	}

	before := e.sealer.KeyID()
	out = e.must(t, "secrets", "rotate-key")
	kid := e.sealer.KeyID()
	if kid == before || !strings.Contains(out, "new master key: "+kid) || !strings.Contains(out, "re-sealed") || !strings.Contains(out, "back up") {
		t.Errorf("rotate-key (key %s -> %s):\n%s", before, kid, out)
	}
	if _, err := os.Stat(filepath.Join(e.dir, storage.MasterKeyFile)); err != nil {
		t.Error(err)
	}
	// The secret opens under the new key.
	if out := e.must(t, "env", "reveal", "blog", "DATABASE_URL"); out != secret+"\n" {
		t.Errorf("reveal after rotation: %q", out)
	}
	list, err := e.auth.Audit(auth.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range list {
		actions = append(actions, en.Action)
	}
	if got := strings.Join(actions, " "); got != "env.reveal secrets.rotate_key env.reveal env.reveal" {
		t.Errorf("audit: %s", got)
	}
}

// TestCLIHelp checks that every command has a short help and an example.
func TestCLIHelp(t *testing.T) {
	root := &cobra.Command{Use: "paas"}
	buildCommands(root)
	for _, name := range []string{"users", "teams", "members", "audit", "secrets", "env"} {
		cmd, _, err := root.Find([]string{name})
		if err != nil || cmd.Name() != name {
			t.Fatalf("no %s command: %v", name, err)
		}
		var walk func(*cobra.Command)
		walk = func(c *cobra.Command) {
			if c.Short == "" {
				t.Errorf("%s has no short help", c.CommandPath())
			}
			if c.Runnable() && c.Example == "" {
				t.Errorf("%s has no example", c.CommandPath())
			}
			for _, sub := range c.Commands() {
				walk(sub)
			}
		}
		walk(cmd)
	}
}

// TestCLIExitCode runs the real caddy command in a child process: a
// refused request exits with code 1 and prints the server's message.
func TestCLIExitCode(t *testing.T) {
	if args := os.Getenv("PAAS_CLI_TEST_ARGS"); args != "" {
		os.Args = append([]string{"caddy"}, strings.Split(args, "\x1f")...)
		caddycmd.Main()
		os.Exit(0)
	}
	e := newCLIEnv(t)
	for _, tc := range []struct {
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{[]string{"paas", "users", "create", "not-an-email"}, 1, "", "email is not a valid address"},
		{[]string{"paas", "teams", "show", "nope"}, 1, "", `team "nope" not found`},
		{[]string{"paas", "teams", "create", "backend"}, 0, "backend", ""},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCLIExitCode$")
		cmd.Env = append(os.Environ(), "PAAS_CLI_TEST_ARGS="+strings.Join(append(tc.args, "--address", e.addr), "\x1f"))
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err := cmd.Run()
		code := 0
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			code = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tc.code || !strings.Contains(out.String(), tc.inStdout) || !strings.Contains(errOut.String(), tc.inStderr) {
			t.Errorf("caddy %s: exit code %d (want %d)\nstdout: %s\nstderr: %s", strings.Join(tc.args, " "), code, tc.code, out.String(), errOut.String())
		}
	}
}
