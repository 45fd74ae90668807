package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/platform"
)

// buildIdentityCommands adds the commands for users, teams, members, the
// audit log, the master key and env values. Like the app commands they go
// through the local admin endpoint, which acts with every power, or a
// server's public API (a logged-in user's session for the operations that
// refuse API tokens).
func buildIdentityCommands(cmd *cobra.Command, c *cli) {
	cmd.AddCommand(c.usersCommand(), c.teamsCommand(), c.membersCommand(),
		c.auditCommand(), c.secretsCommand(), c.envCommand())
}

func (c *cli) usersCommand() *cobra.Command {
	users := &cobra.Command{Use: "users", Short: "Creates, lists, shows, changes and deletes users"}

	var create struct {
		admin         bool
		name          string
		passwordStdin bool
	}
	createCmd := &cobra.Command{
		Use:   "create EMAIL [--admin] [--name NAME] [--password-stdin]",
		Short: "Creates a user; without --password-stdin a password is generated and shown once",
		Example: `  caddy paas users create --admin alice@example.com
  caddy paas users create bob@example.com --name "Bob"
  printf '%s\n' "$PASSWORD" | caddy paas users create carol@example.com --password-stdin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := auth.UserInput{Email: args[0], Name: create.name, Admin: create.admin}
			if create.passwordStdin {
				pw, err := c.readPassword(cmd)
				if err != nil {
					return err
				}
				in.Password = pw
			}
			var out auth.CreatedUser
			if err := c.do(cmd.Context(), http.MethodPost, "/users", in, &out); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(out)
			}
			if err := c.printUsers([]auth.User{out.User}); err != nil {
				return err
			}
			if out.GeneratedPassword != "" {
				fmt.Fprintf(c.out, "\ngenerated password (shown only this once): %s\n", out.GeneratedPassword)
				fmt.Fprintln(c.out, "Give it to the user and have them change it after their first login (dashboard: account settings).")
			}
			return nil
		},
	}
	createCmd.Flags().BoolVar(&create.admin, "admin", false, "Make a platform admin (manages users and teams, owner of every team)")
	createCmd.Flags().StringVar(&create.name, "name", "", "Name shown in the dashboard")
	createCmd.Flags().BoolVar(&create.passwordStdin, "password-stdin", false, "Read the password from the first line of stdin instead of generating one")
	users.AddCommand(createCmd)

	users.AddCommand(&cobra.Command{
		Use:     "list",
		Short:   "Lists users",
		Example: "  caddy paas users list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []auth.User
			if err := c.do(cmd.Context(), http.MethodGet, "/users", nil, &list); err != nil {
				return err
			}
			return c.printUsers(list)
		},
	})
	users.AddCommand(&cobra.Command{
		Use:     "show ID|EMAIL",
		Short:   "Shows a user",
		Example: "  caddy paas users show alice@example.com",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := c.userID(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var u auth.User
			if err := c.do(cmd.Context(), http.MethodGet, "/users/"+url.PathEscape(id), nil, &u); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(u)
			}
			tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			for _, r := range [][2]string{
				{"id", u.ID}, {"email", u.Email}, {"name", dash(u.Name)}, {"admin", yesNo(u.Admin)},
				{"disabled", yesNo(u.Disabled)}, {"two-factor", yesNo(u.TOTPEnabled)},
				{"created", u.CreatedAt.Format(time.RFC3339)},
			} {
				fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
			}
			return tw.Flush()
		},
	})

	var update struct {
		admin, disabled bool
		name            string
		passwordStdin   bool
	}
	updateCmd := &cobra.Command{
		Use:   "update ID|EMAIL [--admin=true|false] [--disabled=true|false] [--name NAME] [--password-stdin]",
		Short: "Changes a user: only the flags given (a new admin flag, disabled flag or password ends the user's sessions)",
		Example: `  caddy paas users update alice@example.com --admin=false
  caddy paas users update u_0123456789abcdef --disabled=true
  printf '%s\n' "$PASSWORD" | caddy paas users update bob@example.com --password-stdin`,
		Args: boolFlagArgs(1, "admin", "disabled"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var p auth.UserPatch
			f := cmd.Flags()
			if f.Changed("admin") {
				p.Admin = &update.admin
			}
			if f.Changed("disabled") {
				p.Disabled = &update.disabled
			}
			if f.Changed("name") {
				p.Name = &update.name
			}
			if update.passwordStdin {
				pw, err := c.readPassword(cmd)
				if err != nil {
					return err
				}
				p.Password = &pw
			}
			if p == (auth.UserPatch{}) {
				return errors.New("nothing to change: give --admin, --disabled, --name or --password-stdin")
			}
			id, err := c.userID(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var u auth.User
			if err := c.do(cmd.Context(), http.MethodPatch, "/users/"+url.PathEscape(id), p, &u); err != nil {
				return err
			}
			return c.printUsers([]auth.User{u})
		},
	}
	updateCmd.Flags().BoolVar(&update.admin, "admin", false, "Make (=true) or unmake (=false) a platform admin")
	updateCmd.Flags().BoolVar(&update.disabled, "disabled", false, "Disable (=true) or enable again (=false) the account")
	updateCmd.Flags().StringVar(&update.name, "name", "", "Name shown in the dashboard")
	updateCmd.Flags().BoolVar(&update.passwordStdin, "password-stdin", false, "Set a new password, read from the first line of stdin")
	users.AddCommand(updateCmd)

	users.AddCommand(&cobra.Command{
		Use:     "delete ID|EMAIL",
		Short:   "Deletes a user with their memberships, sessions and API tokens",
		Example: "  caddy paas users delete bob@example.com",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := c.userID(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			var out map[string]string
			if err := c.do(cmd.Context(), http.MethodDelete, "/users/"+url.PathEscape(id), nil, &out); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(out)
			}
			fmt.Fprintf(c.out, "deleted user %s\n", args[0])
			return nil
		},
	})
	return users
}

func (c *cli) teamsCommand() *cobra.Command {
	teams := &cobra.Command{Use: "teams", Short: "Creates, lists, shows and deletes teams"}
	teams.AddCommand(&cobra.Command{
		Use:     "list",
		Short:   "Lists teams",
		Example: "  caddy paas teams list",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []*auth.TeamView
			if err := c.do(cmd.Context(), http.MethodGet, "/teams", nil, &list); err != nil {
				return err
			}
			return c.printTeams(list)
		},
	})
	teams.AddCommand(&cobra.Command{
		Use:     "create NAME",
		Short:   "Creates a team (add its owner with `caddy paas members add NAME EMAIL --role owner`)",
		Example: "  caddy paas teams create backend",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t auth.TeamView
			if err := c.do(cmd.Context(), http.MethodPost, "/teams", map[string]string{"name": args[0]}, &t); err != nil {
				return err
			}
			return c.printTeams([]*auth.TeamView{&t})
		},
	})
	teams.AddCommand(&cobra.Command{
		Use:     "show NAME",
		Short:   "Shows a team and its members",
		Example: "  caddy paas teams show backend",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var t auth.TeamView
			if err := c.do(cmd.Context(), http.MethodGet, "/teams/"+url.PathEscape(args[0]), nil, &t); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(t)
			}
			fmt.Fprintf(c.out, "team:     %s\ncreated:  %s\nmembers:  %d\n\n", t.Name, t.CreatedAt.Format(time.RFC3339), len(t.Members))
			return c.printMembers(t.Members)
		},
	})
	teams.AddCommand(&cobra.Command{
		Use:     "delete NAME",
		Short:   "Deletes a team that holds no app (its API tokens go with it)",
		Example: "  caddy paas teams delete backend",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]string
			if err := c.do(cmd.Context(), http.MethodDelete, "/teams/"+url.PathEscape(args[0]), nil, &out); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(out)
			}
			fmt.Fprintf(c.out, "deleted team %s\n", args[0])
			return nil
		},
	})
	return teams
}

const roleHelp = "Role: owner, admin, developer or viewer"

func (c *cli) membersCommand() *cobra.Command {
	members := &cobra.Command{Use: "members", Short: "Adds, changes and removes the members of a team"}

	var addRole string
	add := &cobra.Command{
		Use:   "add TEAM EMAIL --role ROLE",
		Short: "Adds a user to a team; someone with no account gets an invitation token",
		Example: `  caddy paas members add backend alice@example.com --role developer
  caddy paas members add default new.hire@example.com --role viewer`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out auth.MemberResult
			in := auth.MemberInput{Email: args[1], Role: auth.Role(addRole)}
			if err := c.do(cmd.Context(), http.MethodPost, "/teams/"+url.PathEscape(args[0])+"/members", in, &out); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(out)
			}
			if out.Member != nil {
				return c.printMembers([]auth.Member{*out.Member})
			}
			expires := "-"
			if out.Expires != nil {
				expires = out.Expires.Local().Format("2006-01-02 15:04:05 MST")
			}
			fmt.Fprintf(c.out, "%s has no account yet: invited to team %s as %s.\n", out.InviteEmail, args[0], addRole)
			fmt.Fprintf(c.out, "invitation token (shown only this once): %s\n", out.InviteToken)
			fmt.Fprintf(c.out, "expires: %s\n", expires)
			fmt.Fprintln(c.out, `To accept, they POST {"token": "<token>", "password": "<new password>"} to /api/v1/auth/invites/accept on the dashboard site.`)
			return nil
		},
	}
	add.Flags().StringVar(&addRole, "role", "", roleHelp)
	_ = add.MarkFlagRequired("role")
	members.AddCommand(add)

	var setRole string
	set := &cobra.Command{
		Use:     "set TEAM USER_ID|EMAIL --role ROLE",
		Short:   "Changes a member's role (the member's sessions end)",
		Example: "  caddy paas members set backend u_0123456789abcdef --role admin",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := c.userID(cmd.Context(), args[1])
			if err != nil {
				return err
			}
			var m auth.Member
			path := "/teams/" + url.PathEscape(args[0]) + "/members/" + url.PathEscape(id)
			if err := c.do(cmd.Context(), http.MethodPatch, path, map[string]string{"role": setRole}, &m); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(m)
			}
			return c.printMembers([]auth.Member{m})
		},
	}
	set.Flags().StringVar(&setRole, "role", "", roleHelp)
	_ = set.MarkFlagRequired("role")
	members.AddCommand(set)

	members.AddCommand(&cobra.Command{
		Use:     "remove TEAM USER_ID|EMAIL",
		Short:   "Removes a member from a team (their sessions end, their tokens for the team are deleted)",
		Example: "  caddy paas members remove backend u_0123456789abcdef",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := c.userID(cmd.Context(), args[1])
			if err != nil {
				return err
			}
			var out map[string]string
			path := "/teams/" + url.PathEscape(args[0]) + "/members/" + url.PathEscape(id)
			if err := c.do(cmd.Context(), http.MethodDelete, path, nil, &out); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(out)
			}
			fmt.Fprintf(c.out, "removed %s from team %s\n", args[1], args[0])
			return nil
		},
	})
	return members
}

func (c *cli) auditCommand() *cobra.Command {
	var f struct {
		team   string
		limit  int
		before uint64
	}
	audit := &cobra.Command{
		Use:   "audit [--team TEAM] [--limit N] [--before ID]",
		Short: "Prints the audit log, newest first: who changed what, when, with what result",
		Example: `  caddy paas audit --limit 20
  caddy paas audit --team backend --before 1200`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			path := "/audit"
			if f.team != "" {
				// On a server, a team's admins read its log (the whole
				// log is for platform admins); locally, either works.
				if t, err := c.resolveTarget(false); err == nil && t.remote {
					path = "/teams/" + url.PathEscape(f.team) + "/audit"
				} else {
					q.Set("team", f.team)
				}
			}
			if cmd.Flags().Changed("limit") {
				q.Set("limit", strconv.Itoa(f.limit))
			}
			if f.before > 0 {
				q.Set("before", strconv.FormatUint(f.before, 10))
			}
			if len(q) > 0 {
				path += "?" + q.Encode()
			}
			var list []auth.AuditEntry
			if err := c.do(cmd.Context(), http.MethodGet, path, nil, &list); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(list)
			}
			tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tACTOR\tACTION\tTARGET\tSTATUS\tRESULT")
			for _, e := range list {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", e.ID, e.Time.Local().Format("2006-01-02 15:04:05"),
					e.Actor, e.Action, dash(e.Target), e.Status, oneLine(e.Result))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if n := len(list); n > 0 && n == f.limit {
				fmt.Fprintf(cmd.ErrOrStderr(), "older entries: --before %d\n", list[n-1].ID)
			}
			return nil
		},
	}
	audit.Flags().StringVar(&f.team, "team", "", "Only the entries of this team")
	audit.Flags().IntVar(&f.limit, "limit", 100, "How many entries (at most 1000)")
	audit.Flags().Uint64Var(&f.before, "before", 0, "Only entries older than this id (to page back)")
	return audit
}

func (c *cli) secretsCommand() *cobra.Command {
	secrets := &cobra.Command{Use: "secrets", Short: "Manages the master key that seals every secret"}
	secrets.AddCommand(&cobra.Command{
		Use:     "rotate-key",
		Short:   "Makes a new master key, re-seals every secret under it and replaces master.key",
		Example: "  caddy paas secrets rotate-key",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]string
			if err := c.do(cmd.Context(), http.MethodPost, "/secrets/rotate-key", nil, &out); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(out)
			}
			fmt.Fprintf(c.out, "new master key: %s\n", out["key_id"])
			fmt.Fprintln(c.out, "Every secret was re-sealed under it and master.key in the data directory was replaced: back up the new master.key now (the old one opens nothing any more).")
			return nil
		},
	})
	return secrets
}

func (c *cli) envCommand() *cobra.Command {
	env := &cobra.Command{Use: "env", Short: "Lists, sets and unsets an app's env variables, and reveals one value"}
	var noDeploy bool
	patchEnv := func(cmd *cobra.Command, app string, vars map[string]*string, verb string) error {
		deploy := !noDeploy
		var v platform.AppView
		body := map[string]any{"env": vars, "deploy": deploy}
		if err := c.do(cmd.Context(), http.MethodPatch, "/apps/"+url.PathEscape(app)+"/env", body, &v); err != nil {
			return err
		}
		if c.json {
			return c.printJSON(v)
		}
		keys := slices.Sorted(maps.Keys(vars))
		fmt.Fprintf(c.out, "%s %s on app %s\n", verb, strings.Join(keys, ", "), app)
		switch {
		case v.Deployment != "":
			fmt.Fprintf(c.out, "deploying: deployment %s (caddy paas deploys show %s %s)\n", v.Deployment, app, v.Deployment)
		case !deploy:
			fmt.Fprintln(c.out, "not deployed: the change takes effect on the next deploy")
		}
		return nil
	}
	set := &cobra.Command{
		Use:   "set APP KEY=VALUE... [--no-deploy]",
		Short: "Sets env variables (values are sealed at rest) and deploys them, unless --no-deploy",
		Example: `  caddy paas env set blog MODE=prod LOG_LEVEL=info
  caddy paas env set blog DATABASE_URL="$DATABASE_URL" --no-deploy`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			vars := map[string]*string{}
			for i, kv := range args[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					// The argument itself is not shown: it may be a value.
					return fmt.Errorf("argument %d after the app: want KEY=VALUE", i+1)
				}
				vars[k] = &v
			}
			return patchEnv(cmd, args[0], vars, "set")
		},
	}
	set.Flags().BoolVar(&noDeploy, "no-deploy", false, "Save the change without deploying: it takes effect on the next deploy")
	env.AddCommand(set)
	unset := &cobra.Command{
		Use:   "unset APP KEY... [--no-deploy]",
		Short: "Removes env variables and deploys the change, unless --no-deploy",
		Example: `  caddy paas env unset blog LOG_LEVEL
  caddy paas env unset blog OLD_KEY OTHER_KEY --no-deploy`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			vars := map[string]*string{}
			for _, k := range args[1:] {
				if k == "" || strings.Contains(k, "=") {
					return fmt.Errorf("%q: give keys only (env set sets values)", strings.SplitN(k, "=", 2)[0])
				}
				vars[k] = nil
			}
			return patchEnv(cmd, args[0], vars, "removed")
		},
	}
	unset.Flags().BoolVar(&noDeploy, "no-deploy", false, "Save the change without deploying: it takes effect on the next deploy")
	env.AddCommand(unset)
	env.AddCommand(&cobra.Command{
		Use:     "list APP",
		Short:   "Lists an app's env variables, values masked",
		Example: "  caddy paas env list blog",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var vars map[string]string
			if err := c.do(cmd.Context(), http.MethodGet, "/apps/"+url.PathEscape(args[0])+"/env", nil, &vars); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(vars)
			}
			tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tVALUE")
			for _, k := range sortedKeys(vars) {
				fmt.Fprintf(tw, "%s\t%s\n", k, vars[k])
			}
			return tw.Flush()
		},
	})
	env.AddCommand(&cobra.Command{
		Use:     "reveal APP KEY",
		Short:   "Prints one env value in clear (the reveal is recorded in the audit log)",
		Example: "  caddy paas env reveal blog DATABASE_URL",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]string
			path := "/apps/" + url.PathEscape(args[0]) + "/env/" + url.PathEscape(args[1]) + "/reveal"
			if err := c.do(cmd.Context(), http.MethodPost, path, nil, &out); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "note: this reveal of %s of app %s is recorded in the audit log\n", args[1], args[0])
			if c.json {
				return c.printJSON(out)
			}
			fmt.Fprintln(c.out, out["value"])
			return nil
		},
	})
	return env
}

// userID turns an email into the user's id (looked up in the user list);
// anything else is taken as an id.
func (c *cli) userID(ctx context.Context, arg string) (string, error) {
	if !strings.Contains(arg, "@") {
		return arg, nil
	}
	var list []auth.User
	if err := c.do(ctx, http.MethodGet, "/users", nil, &list); err != nil {
		return "", err
	}
	for _, u := range list {
		if strings.EqualFold(u.Email, strings.TrimSpace(arg)) {
			return u.ID, nil
		}
	}
	return "", fmt.Errorf("no user with the email %s", arg)
}

// readPassword reads one line of stdin, without its line ending. The
// password is never echoed by this program. It shares the command's stdin
// reader with the prompts of a login a remote server may need next.
func (c *cli) readPassword(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(cmd.ErrOrStderr(), "password (one line; pipe it in to keep it off the screen): ")
		}
	}
	line, err := c.prompter(cmd).r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("--password-stdin: reading stdin: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("--password-stdin: stdin has no password (give it on the first line)")
	}
	// The server's policy, checked here for a clear message.
	if err := auth.ValidatePassword(line); err != nil {
		return "", fmt.Errorf("--password-stdin: %w", err)
	}
	return line, nil
}

// boolFlagArgs wants n positional arguments, and explains the usual
// mistake of a boolean flag's value given after a space (--admin false),
// which the flag parser takes as an argument.
func boolFlagArgs(n int, flags ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) > n {
			for _, a := range args[n:] {
				if _, err := strconv.ParseBool(a); err == nil {
					return fmt.Errorf("unexpected argument %q: give a value to --%s with '=', such as --%s=%s",
						a, strings.Join(flags, " or --"), flags[0], a)
				}
			}
		}
		return cobra.ExactArgs(n)(cmd, args)
	}
}

func (c *cli) printUsers(list []auth.User) error {
	if c.json {
		return c.printJSON(list)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tNAME\tADMIN\tDISABLED\t2FA\tCREATED")
	for _, u := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Email, dash(u.Name), yesNo(u.Admin),
			yesNo(u.Disabled), yesNo(u.TOTPEnabled), u.CreatedAt.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

func (c *cli) printTeams(list []*auth.TeamView) error {
	if c.json {
		return c.printJSON(list)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMEMBERS\tCREATED")
	for _, t := range list {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", t.Name, len(t.Members), t.CreatedAt.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

func (c *cli) printMembers(list []auth.Member) error {
	if c.json {
		return c.printJSON(list)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER_ID\tEMAIL\tNAME\tROLE")
	for _, m := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.UserID, m.Email, dash(m.Name), m.Role)
	}
	return tw.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// oneLine keeps a table row on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
