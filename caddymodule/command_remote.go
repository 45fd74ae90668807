package caddymodule

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/platform"
)

// target is where the commands send their requests: the local admin
// endpoint, or a server's public API with an API token.
type target struct {
	remote bool
	// server is the server's URL (remote).
	server string
	// token is the API token (remote); it is never printed.
	token string
	// email is the user the stored token belongs to, if known.
	email string
	// source says where the server came from: --server, $CADDY_PAAS_SERVER
	// or login.
	source string
	// address is the admin endpoint's address (local).
	address string
}

// runState is what one run of a command keeps: its target, the stdin
// reader of its prompts, and a logged-in session when an operation needs
// one (it is logged out when the command ends).
type runState struct {
	cmd     *cobra.Command
	target  *target
	prompt  *prompter
	session *admin.Client
	logout  func()
}

// resolveTarget picks the target: --local or --address force the admin
// endpoint; else --server, $CADDY_PAAS_SERVER or the current server of
// `caddy paas login`, with $CADDY_PAAS_TOKEN (unless --server names another
// server than $CADDY_PAAS_SERVER) or the stored token; else the admin
// endpoint. needToken is false for the commands that log in themselves.
func (c *cli) resolveTarget(needToken bool) (*target, error) {
	if c.run.target != nil && (!needToken || !c.run.target.remote || c.run.target.token != "") {
		return c.run.target, nil
	}
	local := &target{address: c.adminAddress()}
	if c.local || c.address != "" {
		c.run.target = local
		return local, nil
	}
	envSrv := strings.TrimSpace(os.Getenv(envServer))
	server, source := c.server, "--server"
	if server == "" {
		server, source = envSrv, "$"+envServer
	}
	envTok := strings.TrimSpace(os.Getenv(envToken))
	if envTok != "" && envSrv != "" && server != envSrv {
		// $CADDY_PAAS_TOKEN belongs to $CADDY_PAAS_SERVER: it is not sent
		// to another server that --server names.
		a, errA := normalizeServer(envSrv)
		b, errB := normalizeServer(server)
		if errA != nil || errB != nil || a != b {
			envTok = ""
		}
	}
	var cr *credentials
	if server == "" || envTok == "" {
		var err error
		if cr, _, err = loadCredentials(); err != nil {
			return nil, err
		}
	}
	if server == "" && cr != nil && cr.Current != "" {
		server, source = cr.Current, "login"
	}
	if server == "" {
		if envTok != "" {
			return nil, fmt.Errorf("$%s is set but no server is: set $%s or give --server URL (or --local for the admin endpoint)", envToken, envServer)
		}
		c.run.target = local
		return local, nil
	}
	norm, err := normalizeServer(server)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	t := &target{remote: true, server: norm, source: source, token: envTok}
	if cr != nil {
		if sc := cr.Servers[norm]; sc != nil {
			t.email = sc.Email
			if t.token == "" {
				t.token = sc.Token
			}
		}
	}
	if needToken && t.token == "" {
		return nil, fmt.Errorf("not logged in to %s: run `caddy paas login %s` (or set $%s), or give --local for the admin endpoint", norm, norm, envToken)
	}
	c.run.target = t
	return t, nil
}

// adminAddress is the admin endpoint's address: --address, else
// $CADDY_ADMIN, else Caddy's default.
func (c *cli) adminAddress() string {
	if c.address != "" {
		return c.address
	}
	if a := os.Getenv("CADDY_ADMIN"); a != "" {
		return a
	}
	return caddy.DefaultAdminListen
}

// remoteHTTP is the HTTP client of the public API. It follows no redirect:
// a redirect would send the token (or the password) somewhere it was not
// given to, possibly in clear text.
func remoteHTTP(jar http.CookieJar) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Minute,
		Jar:     jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			return fmt.Errorf("the server redirects to %s://%s: give that address instead (caddy paas login %s://%s)",
				req.URL.Scheme, req.URL.Host, req.URL.Scheme, req.URL.Host)
		},
	}
}

// remoteClient is a client of the server's /api/v1 with an API token.
func remoteClient(server, token string) *admin.Client {
	return &admin.Client{
		BaseURL: server,
		Prefix:  "/api/v1",
		Token:   token,
		Target:  "the server at " + server,
		HTTP:    remoteHTTP(nil),
	}
}

// needsUser says whether an operation refuses API tokens: it needs a
// logged-in user (session-only and platform-admin operations).
func needsUser(method, path string) bool {
	path, _, _ = strings.Cut(path, "?")
	for _, rt := range admin.Routes {
		if rt.Method == method && pathMatches(rt.Path, path) {
			return rt.SessionOnly || rt.Scope == admin.ScopePlatform
		}
	}
	return false
}

// pathMatches matches a route's pattern (/apps/{name}) with a path.
func pathMatches(pattern, path string) bool {
	ps, xs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(xs) {
		return false
	}
	for i, p := range ps {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if xs[i] == "" {
				return false
			}
			continue
		}
		if p != xs[i] {
			return false
		}
	}
	return true
}

// prompter reads what a command asks for: from the terminal without echo
// for secrets, else one line of stdin each.
type prompter struct {
	r   *bufio.Reader
	out io.Writer
	fd  int
	tty bool
}

func (c *cli) prompter(cmd *cobra.Command) *prompter {
	if c.run.prompt == nil {
		in := cmd.InOrStdin()
		p := &prompter{r: bufio.NewReader(in), out: cmd.ErrOrStderr(), fd: -1}
		if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			p.fd, p.tty = int(f.Fd()), true
		}
		c.run.prompt = p
	}
	return c.run.prompt
}

// line asks for one line (shown as typed on a terminal).
func (p *prompter) line(prompt, what string) (string, error) {
	if p.tty {
		fmt.Fprint(p.out, prompt)
	}
	s, err := p.r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	s = strings.TrimRight(s, "\r\n")
	if strings.TrimSpace(s) == "" {
		if p.tty {
			return "", fmt.Errorf("no %s given", what)
		}
		return "", fmt.Errorf("no %s given: stdin is not a terminal, so give it on its own line of stdin", what)
	}
	return s, nil
}

// secret asks for a secret: on a terminal without echo, else one line of
// stdin. It is never printed.
func (p *prompter) secret(prompt, what string) (string, error) {
	if !p.tty {
		return p.line(prompt, what)
	}
	fmt.Fprint(p.out, prompt)
	b, err := term.ReadPassword(p.fd)
	fmt.Fprintln(p.out)
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	if len(b) == 0 {
		return "", fmt.Errorf("no %s given", what)
	}
	return string(b), nil
}

// newPassword asks for a new password, twice on a terminal.
func (p *prompter) newPassword(prompt string) (string, error) {
	pw, err := p.secret(prompt, "new password")
	if err != nil {
		return "", err
	}
	if p.tty {
		again, err := p.secret("again: ", "new password")
		if err != nil {
			return "", err
		}
		if again != pw {
			return "", errors.New("the two passwords differ")
		}
	}
	if err := auth.ValidatePassword(pw); err != nil {
		return "", err
	}
	return pw, nil
}

// sessionFor logs in to server as a user (asking for the password, and the
// second factor when the server wants it) and returns a client of that
// session. The session is logged out when the command ends.
func (c *cli) sessionFor(ctx context.Context, cmd *cobra.Command, server, email string) (*admin.Client, error) {
	if c.run.session != nil {
		return c.run.session, nil
	}
	cl, _, err := c.passwordSession(ctx, cmd, server, email, fmt.Sprintf("password for %%s at %s: ", server), "password")
	return cl, err
}

// passwordSession logs in to server as email (asked when empty), with the
// password asked with prompt (its %%s is the email), and answers the
// session's client and the password, for the commands that send it again.
func (c *cli) passwordSession(ctx context.Context, cmd *cobra.Command, server, email, prompt, what string) (*admin.Client, string, error) {
	p := c.prompter(cmd)
	if email = firstNonEmpty(c.email, email); email == "" {
		if !p.tty {
			return nil, "", errors.New("this needs a logged-in user: give --email (the password is read from stdin)")
		}
		var err error
		if email, err = p.line("email: ", "email"); err != nil {
			return nil, "", err
		}
	}
	var pw string
	cl, _, err := c.loginSession(ctx, cmd, server, func(cl *admin.Client, out *admin.LoginAnswer) error {
		var err error
		if pw, err = p.secret(fmt.Sprintf(prompt, email), what); err != nil {
			return err
		}
		return c.passwordLogin(ctx, cmd, cl, auth.LoginInput{Email: email, Password: pw}, out)
	})
	return cl, pw, err
}

// loginSession makes a client with a cookie jar, starts a session with
// start, and keeps it (with its CSRF token) for the rest of the command.
func (c *cli) loginSession(ctx context.Context, cmd *cobra.Command, server string, start func(*admin.Client, *admin.LoginAnswer) error) (*admin.Client, *admin.LoginAnswer, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, nil, err
	}
	cl := &admin.Client{BaseURL: server, Prefix: "/api/v1", Target: "the server at " + server, HTTP: remoteHTTP(jar), Header: http.Header{}}
	var ans admin.LoginAnswer
	if err := start(cl, &ans); err != nil {
		return nil, nil, err
	}
	if ans.CSRFToken == "" {
		return nil, nil, fmt.Errorf("%s answered the login without a CSRF token: is it a caddy-paas dashboard site?", server)
	}
	cl.Header.Set(auth.CSRFHeader, ans.CSRFToken)
	c.run.session = cl
	c.run.logout = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = cl.Do(ctx, http.MethodPost, "/auth/logout", nil, nil)
	}
	return cl, &ans, nil
}

var totpCodeRE = regexp.MustCompile(`^[0-9]{6}$`)

// passwordLogin posts a login; when the server wants a second factor, it
// asks for the TOTP code (or a recovery code) and tries again.
func (c *cli) passwordLogin(ctx context.Context, cmd *cobra.Command, cl *admin.Client, in auth.LoginInput, out *admin.LoginAnswer) error {
	err := cl.Do(ctx, http.MethodPost, "/auth/login", in, out)
	var apiErr *admin.APIError
	if errors.As(err, &apiErr) && apiErr.Code == "totp_required" {
		code, perr := c.prompter(cmd).line("two-factor code (or a recovery code): ", "two-factor code")
		if perr != nil {
			return perr
		}
		code = strings.TrimSpace(code)
		if totpCodeRE.MatchString(strings.ReplaceAll(code, " ", "")) {
			in.TOTPCode = strings.ReplaceAll(code, " ", "")
		} else {
			in.RecoveryCode = code
		}
		err = cl.Do(ctx, http.MethodPost, "/auth/login", in, out)
	}
	if err != nil {
		return fmt.Errorf("login to %s: %w", cl.BaseURL, err)
	}
	return nil
}

// endRun logs out the session of a command, if it made one.
func (c *cli) endRun() {
	if c.run.logout != nil {
		c.run.logout()
	}
	c.run = runState{}
}

// finishCommands wraps every command: each run starts afresh and logs out
// the session it made, and a refused stored token says how to log in
// again. Commands without an APP argument's completion get one.
func (c *cli) finishCommands(root *cobra.Command) {
	var walk func(*cobra.Command)
	walk = func(cmd *cobra.Command) {
		if run := cmd.RunE; run != nil {
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				c.run = runState{cmd: cmd}
				defer c.endRun()
				err := run(cmd, args)
				var apiErr *admin.APIError
				if t := c.run.target; t != nil && t.remote && errors.As(err, &apiErr) && apiErr.Status == http.StatusUnauthorized && c.run.session == nil {
					return fmt.Errorf("%w (%s refused the token: log in again with `caddy paas login %s`)", err, t.server, t.server)
				}
				return err
			}
		}
		if cmd.ValidArgsFunction == nil && takesApp(cmd) {
			cmd.ValidArgsFunction = c.completeApps
		}
		for _, sub := range cmd.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// takesApp says whether a command's first argument is an existing app.
func takesApp(cmd *cobra.Command) bool {
	f := strings.Fields(cmd.Use)
	if len(f) < 2 {
		return false
	}
	switch f[1] {
	case "APP":
		return true
	case "NAME":
		return cmd.Name() == "deploy" || (cmd.HasParent() && cmd.Parent().Name() == "apps" && cmd.Name() != "create")
	}
	return false
}

// completeApps completes an app name with the apps of the target, best
// effort: nothing when the server cannot be reached.
func (c *cli) completeApps(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	cl, err := c.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	cl.HTTP.Timeout = 3 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	var list []platform.AppView
	if err := cl.Do(ctx, http.MethodGet, "/apps", nil, &list); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []cobra.Completion
	for _, a := range list {
		if strings.HasPrefix(a.Name, toComplete) {
			names = append(names, a.Name)
		}
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// buildRemoteCommands adds login, logout, whoami, tokens, account, setup
// and accept-invite: the commands of a user of a remote server.
func buildRemoteCommands(cmd *cobra.Command, c *cli) {
	cmd.AddCommand(c.loginCommand(), c.logoutCommand(), c.whoamiCommand(), c.tokensCommand(),
		c.accountCommand(), c.setupCommand(), c.acceptInviteCommand())
}

// cliToken says how the CLI's own API token is made after a login.
type cliToken struct {
	team   string
	scope  string
	days   int
	server string
	email  string
}

func (c *cli) cliTokenFlags(cmd *cobra.Command, t *cliToken) {
	cmd.Flags().StringVar(&t.team, "team", "", "Team the CLI's token reaches (default: your only team, else default)")
	cmd.Flags().StringVar(&t.scope, "scope", "", "Scope of the CLI's token: read, deploy or admin (default: the highest your role allows)")
	cmd.Flags().IntVar(&t.days, "expires-in-days", 90, "Lifetime of the CLI's token, 1 to 366 days")
}

func (c *cli) loginCommand() *cobra.Command {
	var f struct {
		tokenStdin bool
		cliToken
	}
	login := &cobra.Command{
		Use:   "login URL [--token-stdin] [--email E] [--team T] [--scope read|deploy|admin] [--expires-in-days N]",
		Short: "Logs in to a caddy-paas server and stores an API token for it; later commands talk to that server",
		Long: `Logs in to the dashboard site of a caddy-paas server (its /api/v1/) and stores an API
token for it in the user's config directory (caddy-paas/credentials.json, mode 0600). The server
becomes the current one: later commands talk to it instead of the local admin endpoint (--local
goes back to the admin endpoint for one command, logout forgets the server).

By default it asks for the email (or --email) and the password (from the terminal without echo,
or the first line of stdin), and the two-factor code when the account has one; it creates an
API token named "cli <hostname>" for the team, then ends the session. With --token-stdin it
stores an existing API token read from stdin instead, after checking it with the server.
The token is never printed.`,
		Example: `  caddy paas login https://paas.example.com
  caddy paas login https://paas.example.com --email alice@example.com --team backend --scope deploy
  printf '%s\n' "$PAAS_TOKEN" | caddy paas login https://paas.example.com --token-stdin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server, err := normalizeServer(args[0])
			if err != nil {
				return err
			}
			if strings.HasPrefix(server, "http://") && !isLoopbackServer(server) {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s is plain http: the password and the token cross the network unencrypted\n", server)
			}
			ctx := cmdContext(cmd)
			if f.tokenStdin {
				for _, name := range []string{"team", "scope", "expires-in-days", "email"} {
					if cmd.Flags().Changed(name) {
						return fmt.Errorf("--%s is for a new token: --token-stdin stores an existing one as it is", name)
					}
				}
				tok, err := c.prompter(cmd).secret("API token: ", "API token")
				if err != nil {
					return fmt.Errorf("--token-stdin: %w", err)
				}
				tok = strings.TrimSpace(tok)
				var me admin.Me
				if err := remoteClient(server, tok).Do(ctx, http.MethodGet, "/me", nil, &me); err != nil {
					return fmt.Errorf("checking the token with %s: %w", server, err)
				}
				sc := &serverCredential{Token: tok, SavedAt: time.Now().UTC()}
				if me.User != nil {
					sc.Email = me.User.Email
				}
				if me.Token != nil {
					sc.TokenID, sc.Team, sc.Scope, sc.ExpiresAt = me.Token.ID, me.Token.Team, string(me.Token.Scope), me.Token.ExpiresAt
				}
				return c.storeLogin(cmd, server, sc)
			}
			f.server, f.email = server, c.email
			return c.passwordLoginAndStore(ctx, cmd, f.cliToken)
		},
	}
	login.Flags().BoolVar(&f.tokenStdin, "token-stdin", false, "Store an existing API token (cpaas_...) read from stdin instead of logging in with a password")
	c.cliTokenFlags(login, &f.cliToken)
	return login
}

// passwordLoginAndStore asks for the email (unless given) and the
// password, logs in, creates the CLI's token and stores it.
func (c *cli) passwordLoginAndStore(ctx context.Context, cmd *cobra.Command, t cliToken) error {
	p := c.prompter(cmd)
	if t.email == "" {
		if !p.tty {
			return errors.New("--email is required when stdin is not a terminal (the password is read from stdin)")
		}
		var err error
		if t.email, err = p.line("email: ", "email"); err != nil {
			return err
		}
	}
	cl, ans, err := c.loginSession(ctx, cmd, t.server, func(cl *admin.Client, out *admin.LoginAnswer) error {
		pw, err := p.secret(fmt.Sprintf("password for %s: ", t.email), "password")
		if err != nil {
			return err
		}
		return c.passwordLogin(ctx, cmd, cl, auth.LoginInput{Email: t.email, Password: pw}, out)
	})
	if err != nil {
		return c.explainLoginError(ctx, t.server, err)
	}
	return c.createCLIToken(ctx, cmd, cl, ans, t)
}

// explainLoginError adds the way out when the server has no user yet.
func (c *cli) explainLoginError(ctx context.Context, server string, err error) error {
	var apiErr *admin.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		return err
	}
	var st admin.AuthStatus
	if remoteClient(server, "").Do(ctx, http.MethodGet, "/auth/status", nil, &st) == nil && st.SetupRequired {
		return fmt.Errorf("%w: %s has no user yet; sign up the first admin with `caddy paas setup %s --email EMAIL`", err, server, server)
	}
	return err
}

// createCLIToken creates the CLI's API token with the session of cl,
// stores it, revokes the one it replaces, and prints what it did (never
// the token).
func (c *cli) createCLIToken(ctx context.Context, cmd *cobra.Command, cl *admin.Client, ans *admin.LoginAnswer, t cliToken) error {
	var me admin.Me
	if err := cl.Do(ctx, http.MethodGet, "/me", nil, &me); err != nil {
		return err
	}
	if t.team == "" {
		switch teams := sortedRoleKeys(me.Teams); {
		case len(teams) == 1:
			t.team = teams[0]
		case len(teams) == 0 || me.Teams["default"] != "":
			t.team = "default"
		default:
			return fmt.Errorf("you are in several teams (%s): choose the token's with --team", strings.Join(teams, ", "))
		}
	}
	if t.scope == "" {
		t.scope = string(auth.ScopeRead)
		switch role := me.Teams[t.team]; {
		case me.User != nil && me.User.Admin, role == auth.RoleOwner, role == auth.RoleAdmin:
			t.scope = string(auth.ScopeAdmin)
		case role == auth.RoleDeveloper:
			t.scope = string(auth.ScopeDeploy)
		}
	}
	host, _ := os.Hostname()
	in := auth.TokenInput{Name: strings.TrimSpace("cli " + host), Team: t.team, Scope: auth.Scope(t.scope), ExpiresInDays: t.days}
	var created auth.CreatedToken
	if err := cl.Do(ctx, http.MethodPost, "/tokens", in, &created); err != nil {
		return fmt.Errorf("creating the CLI's API token: %w", err)
	}
	email := t.email
	if ans.User != nil {
		email = ans.User.Email
	}
	sc := &serverCredential{Token: created.Secret, TokenID: created.ID, Email: email, Team: created.Team,
		Scope: string(created.Scope), ExpiresAt: created.ExpiresAt, SavedAt: time.Now().UTC()}
	// The token this login replaces is revoked: logins leave no stray
	// tokens behind.
	if cr, _, err := loadCredentials(); err == nil {
		if old := cr.Servers[t.server]; old != nil && old.TokenID != "" && old.TokenID != created.ID {
			if cl.Do(ctx, http.MethodDelete, "/tokens/"+url.PathEscape(old.TokenID), nil, nil) == nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "revoked the previous CLI token %s\n", old.TokenID)
			}
		}
	}
	return c.storeLogin(cmd, t.server, sc)
}

// storeLogin saves a server's credential, makes it the current server and
// says so, without the token.
func (c *cli) storeLogin(cmd *cobra.Command, server string, sc *serverCredential) error {
	cr, path, err := loadCredentials()
	if err != nil {
		return err
	}
	cr.Servers[server] = sc
	cr.Current = server
	if err := cr.save(path); err != nil {
		return err
	}
	if c.json {
		return c.printJSON(map[string]any{"server": server, "email": sc.Email, "team": sc.Team, "scope": sc.Scope,
			"token_id": sc.TokenID, "expires_at": sc.ExpiresAt, "credentials": path})
	}
	who := firstNonEmpty(sc.Email, "the token's user")
	fmt.Fprintf(c.out, "Logged in to %s as %s.\n", server, who)
	if sc.TokenID != "" {
		fmt.Fprintf(c.out, "API token %s (team %s, scope %s) expires %s; stored in %s.\n", sc.TokenID, dash(sc.Team), dash(sc.Scope),
			sc.ExpiresAt.Local().Format("2006-01-02"), path)
	} else {
		fmt.Fprintf(c.out, "API token stored in %s.\n", path)
	}
	fmt.Fprintf(c.out, "Commands now talk to %s (--local for the admin endpoint; `caddy paas logout` to forget it).\n", server)
	if os.Getenv(envToken) != "" || os.Getenv(envServer) != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "note: $%s or $%s is set and takes precedence over this login\n", envServer, envToken)
	}
	return nil
}

func (c *cli) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [URL]",
		Short: "Forgets the stored token of a server (default: the current one) and revokes it when the server allows",
		Example: `  caddy paas logout
  caddy paas logout https://paas.example.com`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cr, path, err := loadCredentials()
			if err != nil {
				return err
			}
			server := cr.Current
			if len(args) == 1 {
				server = args[0]
			} else if c.server != "" {
				server = c.server
			}
			if server == "" {
				return errors.New("not logged in to any server (give the URL to log out of)")
			}
			if server, err = normalizeServer(server); err != nil {
				return err
			}
			sc := cr.Servers[server]
			if sc == nil {
				return fmt.Errorf("not logged in to %s", server)
			}
			revoked := false
			if sc.TokenID != "" {
				ctx, cancel := context.WithTimeout(cmdContext(cmd), 15*time.Second)
				// A token may always revoke itself.
				revoked = remoteClient(server, sc.Token).Do(ctx, http.MethodDelete, "/me/token", nil, nil) == nil
				cancel()
			}
			delete(cr.Servers, server)
			if cr.Current == server {
				cr.Current = ""
			}
			if err := cr.save(path); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(map[string]any{"server": server, "token_id": sc.TokenID, "revoked": revoked})
			}
			fmt.Fprintf(c.out, "Logged out of %s: its token is no longer stored.\n", server)
			if !revoked && sc.TokenID != "" {
				fmt.Fprintf(c.out, "The token %s stays valid until %s: revoke it in the dashboard, or with `caddy paas tokens delete %s --server %s`.\n",
					sc.TokenID, sc.ExpiresAt.Local().Format("2006-01-02"), sc.TokenID, server)
			} else if revoked {
				fmt.Fprintf(c.out, "The token %s was revoked.\n", sc.TokenID)
			}
			return nil
		},
	}
}

func (c *cli) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Shows where commands go (a server, or the local admin endpoint) and as whom",
		Example: `  caddy paas whoami
  caddy paas whoami --server https://paas.example.com --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := c.resolveTarget(true)
			if err != nil {
				return err
			}
			if !t.remote {
				if c.json {
					return c.printJSON(map[string]any{"target": "local", "address": t.address})
				}
				fmt.Fprintf(c.out, "local admin endpoint (%s): acts with every power, as whoever reaches it\n", t.address)
				return nil
			}
			var me admin.Me
			if err := remoteClient(t.server, t.token).Do(cmdContext(cmd), http.MethodGet, "/me", nil, &me); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(map[string]any{"target": "remote", "server": t.server, "source": t.source, "me": me})
			}
			tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintf(tw, "server:\t%s (from %s)\n", t.server, t.source)
			if u := me.User; u != nil {
				user := u.Email
				if u.Name != "" {
					user += " (" + u.Name + ")"
				}
				if u.Admin {
					user += ", platform admin"
				}
				fmt.Fprintf(tw, "user:\t%s\n", user)
			}
			if tk := me.Token; tk != nil {
				fmt.Fprintf(tw, "token:\t%s %q (team %s, scope %s, expires %s)\n", tk.ID, tk.Name, tk.Team, tk.Scope, tk.ExpiresAt.Local().Format("2006-01-02"))
			}
			var teams []string
			for _, name := range sortedRoleKeys(me.Teams) {
				teams = append(teams, name+" ("+string(me.Teams[name])+")")
			}
			fmt.Fprintf(tw, "teams:\t%s\n", dash(strings.Join(teams, ", ")))
			return tw.Flush()
		},
	}
}

// remoteOnly is the server of a command that only a logged-in user of a
// server can run.
func (c *cli) remoteOnly(what string) (*target, error) {
	t, err := c.resolveTarget(false)
	if err != nil {
		return nil, err
	}
	if !t.remote {
		return nil, fmt.Errorf("%s belong to a server's users: give --server URL, or log in first with `caddy paas login URL` (the local admin endpoint has no user)", what)
	}
	return t, nil
}

func (c *cli) tokensCommand() *cobra.Command {
	tokens := &cobra.Command{
		Use:   "tokens",
		Short: "Lists, creates and revokes your API tokens on a server (logs in with your password)",
		Long: `Lists, creates and revokes your API tokens on the current server (or --server). API
tokens cannot manage tokens, so these commands log in as you (--email, else the user of
` + "`caddy paas login`" + `) with your password (and two-factor code), then log out.`,
	}
	tokens.AddCommand(&cobra.Command{
		Use:     "list",
		Short:   "Lists your API tokens (* marks the CLI's own)",
		Example: "  caddy paas tokens list\n  caddy paas tokens list --email alice@example.com --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := c.remoteOnly("tokens")
			if err != nil {
				return err
			}
			cl, err := c.sessionFor(cmdContext(cmd), cmd, t.server, t.email)
			if err != nil {
				return err
			}
			var list []auth.Token
			if err := cl.Do(cmdContext(cmd), http.MethodGet, "/tokens", nil, &list); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(list)
			}
			own := ""
			if cr, _, err := loadCredentials(); err == nil && cr.Servers[t.server] != nil {
				own = cr.Servers[t.server].TokenID
			}
			tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tTEAM\tSCOPE\tCREATED\tEXPIRES\tLAST USED")
			for _, tk := range list {
				id := tk.ID
				if id == own {
					id += " *"
				}
				last := "-"
				if tk.LastUsedAt != nil {
					last = tk.LastUsedAt.Local().Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, tk.Name, tk.Team, tk.Scope,
					tk.CreatedAt.Local().Format("2006-01-02"), tk.ExpiresAt.Local().Format("2006-01-02"), last)
			}
			return tw.Flush()
		},
	})

	var create struct {
		team, scope, name string
		days              int
	}
	createCmd := &cobra.Command{
		Use:   "create --team T --scope read|deploy|admin [--name N] [--expires-in-days N]",
		Short: "Creates an API token and prints it once: store it at once (a CI secret, a password manager)",
		Example: `  caddy paas tokens create --team backend --scope deploy --name "github actions" --expires-in-days 30
  caddy paas tokens create --team default --scope read --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := c.remoteOnly("tokens")
			if err != nil {
				return err
			}
			name := create.name
			if name == "" {
				host, _ := os.Hostname()
				name = strings.TrimSpace("cli " + host)
			}
			cl, err := c.sessionFor(cmdContext(cmd), cmd, t.server, t.email)
			if err != nil {
				return err
			}
			in := auth.TokenInput{Name: name, Team: create.team, Scope: auth.Scope(create.scope), ExpiresInDays: create.days}
			var out auth.CreatedToken
			if err := cl.Do(cmdContext(cmd), http.MethodPost, "/tokens", in, &out); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "This is the only time the token is shown: store it now (a CI secret, a password manager). Lost, it cannot be shown again, only revoked and replaced.")
			if c.json {
				return c.printJSON(out)
			}
			tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tTEAM\tSCOPE\tEXPIRES")
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", out.ID, out.Name, out.Team, out.Scope, out.ExpiresAt.Local().Format("2006-01-02"))
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(c.out, "\ntoken (shown only this once): %s\n", out.Secret)
			return nil
		},
	}
	createCmd.Flags().StringVar(&create.team, "team", "", "Team the token reaches")
	createCmd.Flags().StringVar(&create.scope, "scope", "", "read, deploy (CI: deploy and configure) or admin (whatever your role allows)")
	createCmd.Flags().StringVar(&create.name, "name", "", "What the token is for (default: cli <hostname>)")
	createCmd.Flags().IntVar(&create.days, "expires-in-days", 30, "Lifetime, 1 to 366 days")
	_ = createCmd.MarkFlagRequired("team")
	_ = createCmd.MarkFlagRequired("scope")
	tokens.AddCommand(createCmd)

	tokens.AddCommand(&cobra.Command{
		Use:     "delete ID",
		Short:   "Revokes an API token at once",
		Example: "  caddy paas tokens delete tok_0123456789ab",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := c.remoteOnly("tokens")
			if err != nil {
				return err
			}
			cl, err := c.sessionFor(cmdContext(cmd), cmd, t.server, t.email)
			if err != nil {
				return err
			}
			var out admin.Deleted
			if err := cl.Do(cmdContext(cmd), http.MethodDelete, "/tokens/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			if cr, _, err := loadCredentials(); err == nil && cr.Servers[t.server] != nil && cr.Servers[t.server].TokenID == args[0] {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: that was the CLI's own token for %s: log in again with `caddy paas login %s`\n", t.server, t.server)
			}
			if c.json {
				return c.printJSON(out)
			}
			fmt.Fprintf(c.out, "revoked token %s\n", args[0])
			return nil
		},
	})
	return tokens
}

func (c *cli) accountCommand() *cobra.Command {
	account := &cobra.Command{
		Use:   "account",
		Short: "Changes your password and two-factor authentication on a server (logs in with your password)",
	}
	account.AddCommand(&cobra.Command{
		Use:   "password",
		Short: "Changes your password (every session of yours ends; API tokens stay valid)",
		Example: `  caddy paas account password
  printf '%s\n%s\n' "$OLD" "$NEW" | caddy paas account password --email alice@example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := c.remoteOnly("accounts")
			if err != nil {
				return err
			}
			ctx := cmdContext(cmd)
			p := c.prompter(cmd)
			_, current, err := c.passwordSession(ctx, cmd, t.server, t.email, "current password for %s: ", "current password")
			if err != nil {
				return err
			}
			next, err := p.newPassword("new password: ")
			if err != nil {
				return err
			}
			var out admin.Result
			if err := c.run.session.Do(ctx, http.MethodPost, "/me/password", admin.PasswordChange{CurrentPassword: current, NewPassword: next}, &out); err != nil {
				return err
			}
			c.run.logout = nil // the change ended the session
			if c.json {
				return c.printJSON(out)
			}
			fmt.Fprintln(c.out, out.Result)
			return nil
		},
	})

	totp := &cobra.Command{Use: "totp", Short: "Turns two-factor authentication (TOTP) on or off"}
	account.AddCommand(totp)
	totp.AddCommand(&cobra.Command{
		Use:   "enable",
		Short: "Turns two-factor authentication on: shows the secret to add to an authenticator app, asks a code, prints recovery codes once",
		Example: `  caddy paas account totp enable
  caddy paas account totp enable --email alice@example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := c.remoteOnly("accounts")
			if err != nil {
				return err
			}
			ctx := cmdContext(cmd)
			cl, err := c.sessionFor(ctx, cmd, t.server, t.email)
			if err != nil {
				return err
			}
			var en auth.TOTPEnrollment
			if err := cl.Do(ctx, http.MethodPost, "/me/totp", nil, &en); err != nil {
				return err
			}
			// The secret is for the user's eyes: on stdout, or on stderr
			// when stdout is JSON for the codes.
			w := c.out
			if c.json {
				w = cmd.ErrOrStderr()
			}
			fmt.Fprintf(w, "Add this account to your authenticator app:\n  secret: %s\n  URL:    %s\n", en.Secret, en.URL)
			code, err := c.prompter(cmd).line("code shown by the app: ", "code")
			if err != nil {
				return err
			}
			var rc auth.RecoveryCodes
			if err := cl.Do(ctx, http.MethodPost, "/me/totp/confirm", admin.CodeInput{Code: strings.ReplaceAll(strings.TrimSpace(code), " ", "")}, &rc); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(rc)
			}
			fmt.Fprintln(c.out, "\nTwo-factor authentication is on. Recovery codes (shown only this once; each replaces a code once):")
			for _, rcode := range rc.Codes {
				fmt.Fprintf(c.out, "  %s\n", rcode)
			}
			return nil
		},
	})
	totp.AddCommand(&cobra.Command{
		Use:     "disable",
		Short:   "Turns two-factor authentication off (asks your password and a code)",
		Example: "  caddy paas account totp disable",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			t, err := c.remoteOnly("accounts")
			if err != nil {
				return err
			}
			ctx := cmdContext(cmd)
			cl, pw, err := c.passwordSession(ctx, cmd, t.server, t.email, "password for %s: ", "password")
			if err != nil {
				return err
			}
			var out admin.TOTPState
			if err := cl.Do(ctx, http.MethodPost, "/me/totp/disable", admin.PasswordInput{Password: pw}, &out); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(out)
			}
			fmt.Fprintln(c.out, "Two-factor authentication is off.")
			return nil
		},
	})
	return account
}

func (c *cli) setupCommand() *cobra.Command {
	var f struct {
		name string
		cliToken
	}
	setup := &cobra.Command{
		Use:   "setup URL --email E [--name N]",
		Short: "Signs up the first admin of a new server with the setup token from its log, then logs in like login",
		Long: `Signs up the first admin of a server that has no user yet, with the one-time setup_token
its log printed at start (asked for, or the first line of stdin; then the password: twice on a
terminal, or the next line of stdin). Then it stores an API token for the CLI, like login.`,
		Example: `  caddy paas setup https://paas.example.com --email you@example.com
  printf '%s\n%s\n' "$SETUP_TOKEN" "$PASSWORD" | caddy paas setup https://paas.example.com --email you@example.com`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server, err := normalizeServer(args[0])
			if err != nil {
				return err
			}
			if c.email == "" {
				return errors.New("--email is required: the first admin's email")
			}
			ctx := cmdContext(cmd)
			var st admin.AuthStatus
			if err := remoteClient(server, "").Do(ctx, http.MethodGet, "/auth/status", nil, &st); err != nil {
				return err
			}
			if !st.SetupRequired {
				return fmt.Errorf("%s already has users: log in with `caddy paas login %s`", server, server)
			}
			p := c.prompter(cmd)
			f.server, f.email = server, c.email
			cl, ans, err := c.loginSession(ctx, cmd, server, func(cl *admin.Client, out *admin.LoginAnswer) error {
				tok, err := p.secret("setup token (from the server's log): ", "setup token")
				if err != nil {
					return err
				}
				pw, err := p.newPassword(fmt.Sprintf("password for %s: ", c.email))
				if err != nil {
					return err
				}
				return cl.Do(ctx, http.MethodPost, "/auth/setup", auth.SetupInput{Token: strings.TrimSpace(tok), Email: c.email, Name: f.name, Password: pw}, out)
			})
			if err != nil {
				return err
			}
			return c.createCLIToken(ctx, cmd, cl, ans, f.cliToken)
		},
	}
	setup.Flags().StringVar(&f.name, "name", "", "Name shown in the dashboard")
	c.cliTokenFlags(setup, &f.cliToken)
	return setup
}

func (c *cli) acceptInviteCommand() *cobra.Command {
	var f struct {
		name string
		cliToken
	}
	accept := &cobra.Command{
		Use:   "accept-invite URL [--name N]",
		Short: "Signs up with an invitation token (from `members add`), then logs in like login",
		Long: `Signs up with the invitation token a team admin got from ` + "`caddy paas members add`" + ` (asked
for, or the first line of stdin; then the password: twice on a terminal, or the next line of
stdin). Then it stores an API token for the CLI, like login.`,
		Example: `  caddy paas accept-invite https://paas.example.com --name "Bob"
  printf '%s\n%s\n' "$INVITE" "$PASSWORD" | caddy paas accept-invite https://paas.example.com`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server, err := normalizeServer(args[0])
			if err != nil {
				return err
			}
			ctx := cmdContext(cmd)
			p := c.prompter(cmd)
			f.server = server
			cl, ans, err := c.loginSession(ctx, cmd, server, func(cl *admin.Client, out *admin.LoginAnswer) error {
				tok, err := p.secret("invitation token: ", "invitation token")
				if err != nil {
					return err
				}
				pw, err := p.newPassword("password: ")
				if err != nil {
					return err
				}
				return cl.Do(ctx, http.MethodPost, "/auth/invites/accept", auth.AcceptInviteInput{Token: strings.TrimSpace(tok), Name: f.name, Password: pw}, out)
			})
			if err != nil {
				return err
			}
			return c.createCLIToken(ctx, cmd, cl, ans, f.cliToken)
		},
	}
	accept.Flags().StringVar(&f.name, "name", "", "Name shown in the dashboard")
	c.cliTokenFlags(accept, &f.cliToken)
	return accept
}

func cmdContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

func sortedRoleKeys(m map[string]auth.Role) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
