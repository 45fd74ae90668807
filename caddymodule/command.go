package caddymodule

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/builder"
	"github.com/caddy-paas/caddy-paas/platform"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "paas",
		Usage: "<apps|deploy|deploys|logs|env|scale|restart|login|whoami|tokens|users|teams|...> ...",
		Short: "Manages caddy-paas apps, users and teams, locally or on a remote server",
		Long: `
Manages the apps, users and teams of a caddy-paas server. By default it talks to Caddy's
local admin endpoint (localhost:2019 unless --address or CADDY_ADMIN says otherwise). After
` + "`caddy paas login URL`" + ` (or with --server URL, or CADDY_PAAS_SERVER and CADDY_PAAS_TOKEN) it talks
to that server's public API with an API token instead; --local forces the admin endpoint.

  caddy paas apps create hello --image hello:1 --port 8080 --env VERSION=v1
  caddy paas deploy hello --image hello:2 --wait
  caddy paas apps list
  caddy paas logs hello --follow
  caddy paas env set hello LOG_LEVEL=debug
  caddy paas users create --admin alice@example.com
  caddy paas login https://paas.example.com
  caddy paas whoami

Every command prints a table, or JSON with --json, and has --help with examples.
Errors exit with code 1. Shell completion: caddy completion bash|zsh|fish|powershell.`,
		CobraFunc: buildCommands,
	})
}

// cli holds the flags shared by every paas command, and the state of the
// command being run.
type cli struct {
	address string
	server  string
	local   bool
	email   string
	json    bool
	out     io.Writer
	run     runState
}

func buildCommands(cmd *cobra.Command) {
	c := &cli{out: cmd.OutOrStdout()}
	cmd.PersistentFlags().StringVar(&c.address, "address", "", "Address of the admin endpoint (default: $CADDY_ADMIN or localhost:2019); implies --local")
	cmd.PersistentFlags().StringVar(&c.server, "server", "", "Talk to this server's /api/v1 with its stored token (default: $CADDY_PAAS_SERVER, else the server of the last login)")
	cmd.PersistentFlags().BoolVar(&c.local, "local", false, "Talk to the local admin endpoint even when logged in to a server")
	cmd.PersistentFlags().StringVar(&c.email, "email", "", "User to log in as when an operation needs a logged-in user (default: the user of the last login)")
	cmd.PersistentFlags().BoolVar(&c.json, "json", false, "Print JSON instead of a table")
	cmd.MarkFlagsMutuallyExclusive("server", "local")
	cmd.MarkFlagsMutuallyExclusive("server", "address")

	apps := &cobra.Command{Use: "apps", Short: "Creates, lists, shows and deletes apps"}
	cmd.AddCommand(apps)

	var create struct {
		git, branch       string
		gitUser, tokenEnv string
		image, healthPath string
		port, replicas    int
		env, domains      []string
		wait              bool
		timeout           time.Duration
		memory            string
		cpus              float64
	}
	createCmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Creates an app; with --image it deploys it",
		Example: `  caddy paas apps create hello --image hello:1 --port 8080 --env VERSION=v1
  caddy paas apps create blog --git https://github.com/acme/blog --branch main
  caddy paas apps create api --git https://gitlab.com/acme/api --git-user oauth2 --git-token-env GITLAB_TOKEN --wait=false`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := parseEnv(create.env)
			if err != nil {
				return err
			}
			in := map[string]any{"name": args[0], "env": env}
			if create.image != "" {
				in["image"] = create.image
			}
			if create.git != "" {
				g := map[string]string{"url": create.git, "ref": create.branch, "username": create.gitUser}
				if create.tokenEnv != "" {
					// Read from the environment, so the token is in no
					// shell history and no process list.
					if g["token"] = os.Getenv(create.tokenEnv); g["token"] == "" {
						return fmt.Errorf("--git-token-env: $%s is empty", create.tokenEnv)
					}
				}
				in["git"] = g
			}
			if cmd.Flags().Changed("port") {
				in["port"] = create.port
			}
			if cmd.Flags().Changed("replicas") {
				in["replicas"] = create.replicas
			}
			if create.memory != "" {
				in["memory"] = create.memory
			}
			if cmd.Flags().Changed("cpus") {
				in["cpus"] = create.cpus
			}
			if create.healthPath != "" {
				in["health_path"] = create.healthPath
			}
			if len(create.domains) > 0 {
				in["domains"] = create.domains
			}
			var v platform.AppView
			if err := c.do(cmd.Context(), http.MethodPost, "/apps", in, &v); err != nil {
				return err
			}
			if create.wait && v.Deployment != "" {
				if _, err := c.wait(cmd.Context(), v.Name, v.Deployment, create.timeout); err != nil {
					return err
				}
				if err := c.do(cmd.Context(), http.MethodGet, "/apps/"+v.Name, nil, &v); err != nil {
					return err
				}
			}
			return c.printApps([]*platform.AppView{&v})
		},
	}
	createCmd.Flags().StringVar(&create.image, "image", "", "Image to run (a local image is used without a pull)")
	createCmd.Flags().StringVar(&create.git, "git", "", "Git repository to build the app from (https://, ssh:// or git@host:path)")
	createCmd.Flags().StringVar(&create.branch, "branch", "", "Branch (or tag, or commit) to build and track (default main)")
	createCmd.Flags().StringVar(&create.gitUser, "git-user", "", "User name for --git-token-env (default x-access-token; GitLab: oauth2)")
	createCmd.Flags().StringVar(&create.tokenEnv, "git-token-env", "", "Name of an environment variable holding an HTTPS access token for a private repository")
	createCmd.Flags().IntVar(&create.port, "port", 8080, "Port the app listens on in its container")
	createCmd.Flags().IntVar(&create.replicas, "replicas", 1, "Number of replicas, load-balanced")
	createCmd.Flags().StringVar(&create.memory, "memory", "", "Memory limit of each replica, such as 512m or 1g (at least 6m; default no limit)")
	createCmd.Flags().Float64Var(&create.cpus, "cpus", 0, "How many CPUs each replica may use, such as 0.5 or 2 (default no limit)")
	createCmd.Flags().StringVar(&create.healthPath, "health-path", "", "HTTP path that answers 2xx/3xx when the app is healthy")
	createCmd.Flags().StringArrayVar(&create.env, "env", nil, "Environment variable KEY=VALUE (repeatable)")
	createCmd.Flags().StringArrayVar(&create.domains, "domain", nil, "Extra domain the app answers on (repeatable)")
	createCmd.Flags().BoolVar(&create.wait, "wait", true, "Wait until the first deploy is live or failed (--wait=false to return at once)")
	createCmd.Flags().DurationVar(&create.timeout, "timeout", 5*time.Minute, "How long --wait waits")
	apps.AddCommand(createCmd)

	apps.AddCommand(&cobra.Command{
		Use:     "list",
		Short:   "Lists apps",
		Example: "  caddy paas apps list\n  caddy paas apps list --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []*platform.AppView
			if err := c.do(cmd.Context(), http.MethodGet, "/apps", nil, &list); err != nil {
				return err
			}
			return c.printApps(list)
		},
	})
	apps.AddCommand(&cobra.Command{
		Use:     "show NAME",
		Short:   "Shows an app",
		Example: "  caddy paas apps show hello",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v platform.AppView
			if err := c.do(cmd.Context(), http.MethodGet, "/apps/"+args[0], nil, &v); err != nil {
				return err
			}
			return c.printApp(&v)
		},
	})
	apps.AddCommand(&cobra.Command{
		Use:     "delete NAME",
		Short:   "Deletes an app and removes its containers",
		Example: "  caddy paas apps delete hello",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]string
			if err := c.do(cmd.Context(), http.MethodDelete, "/apps/"+args[0], nil, &out); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(out)
			}
			fmt.Fprintf(c.out, "deleted %s\n", args[0])
			return nil
		},
	})
	apps.AddCommand(&cobra.Command{
		Use:     "deploy-key NAME",
		Short:   "Makes a new SSH deploy key for the app and prints its public half (add it to the git host, read-only)",
		Example: "  caddy paas apps deploy-key blog",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out map[string]string
			if err := c.do(cmd.Context(), http.MethodPost, "/apps/"+args[0]+"/deploy-key", nil, &out); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(out)
			}
			fmt.Fprintln(c.out, out["public_key"])
			return nil
		},
	})
	for _, verb := range []string{"stop", "start"} {
		verb := verb
		apps.AddCommand(&cobra.Command{
			Use:     verb + " NAME",
			Short:   map[string]string{"stop": "Stops an app (its hosts answer 503)", "start": "Starts a stopped app"}[verb],
			Example: "  caddy paas apps " + verb + " hello",
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				var v platform.AppView
				if err := c.do(cmd.Context(), http.MethodPost, "/apps/"+args[0]+"/"+verb, nil, &v); err != nil {
					return err
				}
				return c.printApps([]*platform.AppView{&v})
			},
		})
	}

	var deploy struct {
		image   string
		gitRef  string
		dir     string
		env     []string
		wait    bool
		timeout time.Duration
	}
	deployCmd := &cobra.Command{
		Use:   "deploy NAME",
		Short: "Deploys an app: a new image, env changes, or the same again",
		Example: `  caddy paas deploy hello --image hello:2 --wait
  caddy paas deploy blog --git-ref v1.4.0
  caddy paas deploy blog --dir . --wait
  caddy paas deploy hello --env LOG_LEVEL=debug`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := parseEnv(deploy.env)
			if err != nil {
				return err
			}
			in := map[string]any{}
			if deploy.image != "" {
				in["image"] = deploy.image
			}
			if len(env) > 0 {
				in["env"] = env
			}
			var d platform.Deployment
			if deploy.dir != "" {
				if deploy.image != "" || deploy.gitRef != "" || len(env) > 0 {
					return fmt.Errorf("--dir uploads a source tree: it cannot be combined with --image, --git-ref or --env")
				}
				if err := c.uploadDir(cmd.Context(), args[0], deploy.dir, &d); err != nil {
					return err
				}
				return c.finishDeploy(cmd.Context(), &d, deploy.wait, deploy.timeout)
			}
			if deploy.gitRef != "" {
				in["git"] = map[string]string{"ref": deploy.gitRef}
			}
			if err := c.do(cmd.Context(), http.MethodPost, "/apps/"+args[0]+"/deploys", in, &d); err != nil {
				return err
			}
			return c.finishDeploy(cmd.Context(), &d, deploy.wait, deploy.timeout)
		},
	}
	deployCmd.Flags().StringVar(&deploy.image, "image", "", "Image to deploy (default: the app's)")
	deployCmd.Flags().StringVar(&deploy.gitRef, "git-ref", "", "Branch, tag or commit of the app's repository to build")
	deployCmd.Flags().StringVar(&deploy.dir, "dir", "", "Upload this source tree and build it (honours .dockerignore; .git and .env files are left out, links inside it followed)")
	deployCmd.Flags().StringArrayVar(&deploy.env, "env", nil, "Set environment variable KEY=VALUE (repeatable)")
	deployCmd.Flags().BoolVar(&deploy.wait, "wait", false, "Wait until the deploy is live or failed")
	deployCmd.Flags().DurationVar(&deploy.timeout, "timeout", 5*time.Minute, "How long --wait waits")
	cmd.AddCommand(deployCmd)

	deploys := &cobra.Command{Use: "deploys", Short: "Lists and shows deployments"}
	cmd.AddCommand(deploys)
	deploys.AddCommand(&cobra.Command{
		Use:     "list APP",
		Short:   "Lists an app's deployments, newest first",
		Example: "  caddy paas deploys list hello",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []*platform.Deployment
			if err := c.do(cmd.Context(), http.MethodGet, "/apps/"+args[0]+"/deploys", nil, &list); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(list) // always an array, even of one
			}
			return c.printDeployments(list)
		},
	})
	deploys.AddCommand(&cobra.Command{
		Use:     "show APP ID",
		Short:   "Shows one deployment",
		Example: "  caddy paas deploys show hello d_0123456789abcdef",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d platform.Deployment
			if err := c.do(cmd.Context(), http.MethodGet, "/apps/"+args[0]+"/deploys/"+args[1], nil, &d); err != nil {
				return err
			}
			return c.printDeployments([]*platform.Deployment{&d})
		},
	})

	var logs struct{ follow bool }
	logsCmd := &cobra.Command{
		Use:     "logs APP ID",
		Short:   "Prints a deployment's log (build and start); --follow streams it live",
		Example: "  caddy paas deploys logs hello d_0123456789abcdef\n  caddy paas deploys logs hello d_0123456789abcdef --follow",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			// No overall timeout: a followed log lasts as long as its deploy.
			cl.HTTP.Timeout = 0
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return cl.Logs(ctx, args[0], args[1], logs.follow, c.out)
		},
	}
	logsCmd.Flags().BoolVarP(&logs.follow, "follow", "f", false, "Stream the log until the deploy ends")
	deploys.AddCommand(logsCmd)

	deploys.AddCommand(&cobra.Command{
		Use:     "cancel APP ID",
		Short:   "Cancels a deploy that has not finished; the previous version keeps serving",
		Example: "  caddy paas deploys cancel hello d_0123456789abcdef",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d platform.Deployment
			if err := c.do(cmd.Context(), http.MethodPost, "/apps/"+args[0]+"/deploys/"+args[1]+"/cancel", nil, &d); err != nil {
				return err
			}
			return c.printDeployments([]*platform.Deployment{&d})
		},
	})

	redirects := &cobra.Command{Use: "redirects", Short: "Adds, lists and removes an app's redirect rules"}
	cmd.AddCommand(redirects)
	var redir platform.Redirect
	addRedirect := &cobra.Command{
		Use:   "add APP --to TARGET [--from HOST] [--path-prefix P] [--status 308]",
		Short: "Adds a redirect rule (its --from host becomes one of the app's hosts)",
		Example: `  caddy paas redirects add blog --from old.example.com --to blog.example.com
  caddy paas redirects add blog --path-prefix /docs --to https://docs.example.com --status 302 --drop-path`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out platform.Redirect
			if err := c.do(cmd.Context(), http.MethodPost, "/apps/"+args[0]+"/redirects", redir, &out); err != nil {
				return err
			}
			return c.printRedirects([]platform.Redirect{out})
		},
	}
	addRedirect.Flags().StringVar(&redir.From, "from", "", "Host the rule applies to (default: every host of the app)")
	addRedirect.Flags().StringVar(&redir.To, "to", "", "Target: a host (with an optional path) or an http(s) URL")
	addRedirect.Flags().StringVar(&redir.PathPrefix, "path-prefix", "", "Only paths under this prefix")
	addRedirect.Flags().IntVar(&redir.Status, "status", 308, "301, 302, 307 or 308")
	addRedirect.Flags().BoolVar(&redir.DropPath, "drop-path", false, "Send every request to the target itself, without its path and query")
	redirects.AddCommand(addRedirect)
	redirects.AddCommand(&cobra.Command{
		Use:     "list APP",
		Short:   "Lists an app's redirect rules",
		Example: "  caddy paas redirects list blog",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []platform.Redirect
			if err := c.do(cmd.Context(), http.MethodGet, "/apps/"+args[0]+"/redirects", nil, &list); err != nil {
				return err
			}
			return c.printRedirects(list)
		},
	})
	redirects.AddCommand(&cobra.Command{
		Use:     "remove APP ID",
		Short:   "Removes a redirect rule",
		Example: "  caddy paas redirects remove blog r_0123456789ab",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out admin.Deleted
			if err := c.do(cmd.Context(), http.MethodDelete, "/apps/"+args[0]+"/redirects/"+args[1], nil, &out); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(out)
			}
			fmt.Fprintf(c.out, "removed redirect %s of %s\n", args[1], args[0])
			return nil
		},
	})
	var maintenanceMessage string
	maintenance := &cobra.Command{
		Use:   "maintenance APP on|off [--message TEXT]",
		Short: "Shows a maintenance page (503) instead of the app, or stops showing it",
		Example: `  caddy paas apps maintenance blog on --message "Back at 10:00 UTC"
  caddy paas apps maintenance blog off`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[1] != "on" && args[1] != "off" {
				return fmt.Errorf("say on or off, not %q", args[1])
			}
			var v platform.AppView
			patch := map[string]any{"maintenance": map[string]any{"enabled": args[1] == "on", "message": maintenanceMessage}}
			if err := c.do(cmd.Context(), http.MethodPatch, "/apps/"+args[0], patch, &v); err != nil {
				return err
			}
			return c.printApps([]*platform.AppView{&v})
		},
	}
	maintenance.Flags().StringVar(&maintenanceMessage, "message", "", "Text of the maintenance page")
	apps.AddCommand(maintenance)
	apps.AddCommand(&cobra.Command{
		Use:     "hsts APP on|off",
		Short:   "Sends Strict-Transport-Security (one year, with subdomains) on the app's HTTPS answers, or stops",
		Example: "  caddy paas apps hsts blog on",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[1] != "on" && args[1] != "off" {
				return fmt.Errorf("hsts: %q is neither on nor off", args[1])
			}
			var v platform.AppView
			if err := c.do(cmd.Context(), http.MethodPatch, "/apps/"+args[0], map[string]any{"hsts": args[1] == "on"}, &v); err != nil {
				return err
			}
			return c.printApps([]*platform.AppView{&v})
		},
	})
	apps.AddCommand(&cobra.Command{
		Use:     "www APP to-apex|to-www|off",
		Short:   "Redirects www.<host> to <host> (to-apex) or the other way (to-www)",
		Example: "  caddy paas apps www blog to-apex\n  caddy paas apps www blog off",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode := args[1]
			if mode == "off" {
				mode = ""
			}
			var v platform.AppView
			if err := c.do(cmd.Context(), http.MethodPatch, "/apps/"+args[0], map[string]any{"www_redirect": mode}, &v); err != nil {
				return err
			}
			return c.printApps([]*platform.AppView{&v})
		},
	})

	domains := &cobra.Command{Use: "domains", Short: "Adds, checks and removes an app's custom domains"}
	cmd.AddCommand(domains)
	domains.AddCommand(&cobra.Command{
		Use:     "add APP DOMAIN...",
		Short:   "Adds custom domains to an app (they route at once; certificates come on the first handshake)",
		Example: "  caddy paas domains add blog blog.example.com www.blog.example.com",
		Args:    cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v platform.AppView
			if err := c.do(cmd.Context(), http.MethodPost, "/apps/"+args[0]+"/domains", map[string][]string{"domains": args[1:]}, &v); err != nil {
				return err
			}
			return c.printApps([]*platform.AppView{&v})
		},
	})
	domains.AddCommand(&cobra.Command{
		Use:     "list APP",
		Short:   "Lists an app's hosts: whether each resolves to this server, and its certificate",
		Example: "  caddy paas domains list blog",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []platform.DomainStatus
			if err := c.do(cmd.Context(), http.MethodGet, "/apps/"+args[0]+"/domains", nil, &list); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(list)
			}
			tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DOMAIN\tDNS\tCERTIFICATE\tISSUER\tEXPIRES\tLAST ERROR")
			for _, d := range list {
				expires := "-"
				if d.Certificate.NotAfter != nil {
					expires = d.Certificate.NotAfter.Format("2006-01-02")
				}
				lastErr := "-"
				if d.Certificate.LastError != "" {
					lastErr = d.Certificate.LastError
					if d.Certificate.LastErrorAt != nil {
						lastErr = d.Certificate.LastErrorAt.Local().Format("2006-01-02 15:04") + ": " + lastErr
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Domain, d.DNS.Message, d.Certificate.Source, dash(d.Certificate.Issuer), expires, lastErr)
			}
			return tw.Flush()
		},
	})
	domains.AddCommand(&cobra.Command{
		Use:     "remove APP DOMAIN",
		Short:   "Removes a custom domain from an app",
		Example: "  caddy paas domains remove blog www.blog.example.com",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var v platform.AppView
			if err := c.do(cmd.Context(), http.MethodDelete, "/apps/"+args[0]+"/domains/"+args[1], nil, &v); err != nil {
				return err
			}
			return c.printApps([]*platform.AppView{&v})
		},
	})

	certs := &cobra.Command{Use: "certs", Short: "Uploads, lists and removes an app's own TLS certificates"}
	cmd.AddCommand(certs)
	var certFiles struct{ cert, key string }
	uploadCert := &cobra.Command{
		Use:     "upload APP --cert fullchain.pem --key key.pem",
		Short:   "Uploads a certificate for the app's domains; it is served from the next handshake",
		Example: "  caddy paas certs upload blog --cert fullchain.pem --key key.pem",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			certPEM, err := os.ReadFile(certFiles.cert)
			if err != nil {
				return fmt.Errorf("--cert: %w", err)
			}
			keyPEM, err := os.ReadFile(certFiles.key)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			var out platform.CustomCert
			if err := c.do(cmd.Context(), http.MethodPost, "/apps/"+args[0]+"/certs", platform.CertInput{Cert: string(certPEM), Key: string(keyPEM)}, &out); err != nil {
				return err
			}
			if err := c.printCerts([]platform.CustomCert{out}); err != nil {
				return err
			}
			if out.Warning != "" && !c.json {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", out.Warning)
			}
			return nil
		},
	}
	uploadCert.Flags().StringVar(&certFiles.cert, "cert", "", "PEM certificate chain, leaf first")
	uploadCert.Flags().StringVar(&certFiles.key, "key", "", "PEM private key")
	certs.AddCommand(uploadCert)
	certs.AddCommand(&cobra.Command{
		Use:     "list APP",
		Short:   "Lists an app's uploaded certificates with their expiry",
		Example: "  caddy paas certs list blog",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var list []platform.CustomCert
			if err := c.do(cmd.Context(), http.MethodGet, "/apps/"+args[0]+"/certs", nil, &list); err != nil {
				return err
			}
			return c.printCerts(list)
		},
	})
	certs.AddCommand(&cobra.Command{
		Use:     "remove APP ID",
		Short:   "Removes an uploaded certificate (its hosts go back to automatic certificates)",
		Example: "  caddy paas certs remove blog 0123456789abcdef   # the id, or its first 8+ characters",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out admin.Deleted
			if err := c.do(cmd.Context(), http.MethodDelete, "/apps/"+args[0]+"/certs/"+args[1], nil, &out); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(out)
			}
			fmt.Fprintf(c.out, "removed certificate %s of %s\n", args[1], args[0])
			return nil
		},
	})

	var rollback struct {
		wait    bool
		timeout time.Duration
	}
	rollbackCmd := &cobra.Command{
		Use:     "rollback APP DEPLOYMENT",
		Short:   "Deploys again what an earlier deployment ran",
		Example: "  caddy paas deploys list hello\n  caddy paas rollback hello d_0123456789abcdef --wait",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d platform.Deployment
			if err := c.do(cmd.Context(), http.MethodPost, "/apps/"+args[0]+"/rollback", map[string]string{"deployment": args[1]}, &d); err != nil {
				return err
			}
			return c.finishDeploy(cmd.Context(), &d, rollback.wait, rollback.timeout)
		},
	}
	rollbackCmd.Flags().BoolVar(&rollback.wait, "wait", false, "Wait until the deploy is live or failed")
	rollbackCmd.Flags().DurationVar(&rollback.timeout, "timeout", 5*time.Minute, "How long --wait waits")
	cmd.AddCommand(rollbackCmd)

	buildIdentityCommands(cmd, c)
	buildMCPCommand(cmd, c)
	buildExecCommand(cmd, c)
	buildDetectCommand(cmd, c)
	buildAppOpsCommands(cmd, c)
	buildRemoteCommands(cmd, c)
	c.finishCommands(cmd)
}

// uploadDir packs dir as a tar.gz in a temporary file (links followed
// inside dir, .git and .env files left out, see builder.TarUpload), then
// uploads it with a progress line on stderr.
func (c *cli) uploadDir(ctx context.Context, app, dir string, out *platform.Deployment) error {
	if ctx == nil {
		ctx = context.Background()
	}
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return fmt.Errorf("--dir %s is not a folder", dir)
	}
	tmp, err := os.CreateTemp("", "paas-upload-*.tar.gz")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	gz := gzip.NewWriter(tmp)
	report, err := builder.TarUpload(dir, gz)
	if err != nil {
		return err
	}
	if n := len(report.LeftOut); n > 0 && !c.json {
		shown := report.LeftOut[:min(n, 5)]
		more := ""
		if n > len(shown) {
			more = fmt.Sprintf(" and %d more", n-len(shown))
		}
		noun := "paths"
		if n == 1 {
			noun = "path"
		}
		fmt.Fprintf(os.Stderr, "left out %d local %s (.git, .env files): %s%s\n", n, noun, strings.Join(shown, ", "), more)
	}
	if err := gz.Close(); err != nil {
		return err
	}
	size, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	cl.HTTP.Timeout = 0
	body := &progressReader{r: tmp, total: size, quiet: c.json}
	err = cl.Upload(ctx, "/apps/"+app+"/deploys", "application/gzip", body, size, out)
	body.done()
	return err
}

// progressReader prints an upload's progress on stderr.
type progressReader struct {
	r     io.Reader
	total int64
	read  int64
	last  time.Time
	quiet bool
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.read += int64(n)
	if !p.quiet && time.Since(p.last) > 100*time.Millisecond {
		p.last = time.Now()
		p.print()
	}
	return n, err
}

func (p *progressReader) print() {
	pct := 100.0
	if p.total > 0 {
		pct = float64(p.read) * 100 / float64(p.total)
	}
	bar := strings.Repeat("#", int(pct/5)) + strings.Repeat(".", 20-int(pct/5))
	fmt.Fprintf(os.Stderr, "\ruploading [%s] %5.1f%% of %.1f MB", bar, pct, float64(p.total)/1e6)
}

func (p *progressReader) done() {
	if !p.quiet {
		p.print()
		fmt.Fprintln(os.Stderr)
	}
}

// parseEnv turns KEY=VALUE flags into a map.
func parseEnv(list []string) (map[string]string, error) {
	env := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--env %q: want KEY=VALUE", k)
		}
		env[k] = v
	}
	return env, nil
}

// client builds an API client for the target: a server's /api/v1 with
// its API token, or the admin endpoint, whose address may be a unix
// socket (unix//path).
func (c *cli) client() (*admin.Client, error) {
	t, err := c.resolveTarget(true)
	if err != nil {
		return nil, err
	}
	if t.remote {
		return remoteClient(t.server, t.token), nil
	}
	addr := t.address
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil || na.PortRangeSize() > 1 {
		return nil, fmt.Errorf("invalid admin address %q", addr)
	}
	origin := "http://" + na.JoinHostPort(0)
	header := http.Header{}
	if na.IsUnixNetwork() {
		origin = "http://127.0.0.1"
	} else {
		header.Set("Origin", origin)
	}
	dial := na.JoinHostPort(0)
	return &admin.Client{
		BaseURL: origin,
		Prefix:  "/paas",
		Header:  header,
		HTTP: &http.Client{
			Timeout: 5 * time.Minute,
			Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, na.Network, dial)
			}},
		},
	}, nil
}

// do sends one request to the target. On a server, an operation that
// refuses API tokens (a platform admin's, or a session-only one) goes
// through a session of the user: the CLI asks for the password.
func (c *cli) do(ctx context.Context, method, path string, in, out any) error {
	if ctx == nil {
		ctx = context.Background()
	}
	t, err := c.resolveTarget(false)
	if err != nil {
		return err
	}
	if t.remote && needsUser(method, path) {
		if c.run.cmd == nil {
			return fmt.Errorf("%s %s needs a logged-in user", method, path)
		}
		cl, err := c.sessionFor(ctx, c.run.cmd, t.server, t.email)
		if err != nil {
			return err
		}
		return cl.Do(ctx, method, path, in, out)
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	return cl.Do(ctx, method, path, in, out)
}

func (c *cli) wait(ctx context.Context, app, id string, timeout time.Duration) (*platform.Deployment, error) {
	cl, err := c.client()
	if err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return cl.WaitDeployment(ctx, app, id, func(d *platform.Deployment) {
		if !c.json {
			fmt.Fprintf(os.Stderr, "deployment %s: %s\n", d.ID, d.Status)
		}
	})
}

func (c *cli) finishDeploy(ctx context.Context, d *platform.Deployment, wait bool, timeout time.Duration) error {
	if wait {
		final, err := c.wait(ctx, d.App, d.ID, timeout)
		if final != nil {
			d = final
		}
		if err != nil {
			if c.json {
				_ = c.printJSON(d)
			}
			return err
		}
	}
	return c.printDeployments([]*platform.Deployment{d})
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *cli) printApps(list []*platform.AppView) error {
	if c.json {
		return c.printJSON(list)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tREADY\tIMAGE\tHOSTS\tDEPLOYMENT")
	for _, a := range list {
		fmt.Fprintf(tw, "%s\t%s\t%d/%d\t%s\t%s\t%s\n", a.Name, a.Status, a.ReadyReplicas, a.Replicas,
			dash(a.Image), strings.Join(a.Hosts, ","), dash(firstNonEmpty(a.Deployment, a.Current)))
	}
	return tw.Flush()
}

func (c *cli) printApp(a *platform.AppView) error {
	if c.json {
		return c.printJSON(a)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	rows := [][2]string{
		{"name", a.Name}, {"status", a.Status}, {"image", dash(a.Image)}, {"port", strconv.Itoa(a.Port)},
		{"replicas", fmt.Sprintf("%d ready of %d", a.ReadyReplicas, a.Replicas)},
		{"limits", limitsText(a)},
		{"health path", dash(a.HealthPath)}, {"hosts", strings.Join(a.Hosts, ", ")},
		{"current deployment", dash(a.Current)}, {"env", strings.Join(sortedKeys(a.Env), ", ")},
		{"created", a.CreatedAt.Format(time.RFC3339)}, {"updated", a.UpdatedAt.Format(time.RFC3339)},
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "%s:\t%s\n", r[0], r[1])
	}
	return tw.Flush()
}

func (c *cli) printDeployments(list []*platform.Deployment) error {
	if c.json {
		if len(list) == 1 {
			return c.printJSON(list[0])
		}
		return c.printJSON(list)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tVERSION\tSTATUS\tIMAGE\tCREATED\tREASON")
	for _, d := range list {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", d.ID, d.Version, d.Status, d.Image,
			d.CreatedAt.Local().Format("2006-01-02 15:04:05"), dash(d.Reason))
	}
	return tw.Flush()
}

func (c *cli) printCerts(list []platform.CustomCert) error {
	if c.json {
		return c.printJSON(list)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHOSTS\tISSUER\tEXPIRES")
	for _, cert := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", cert.ID[:min(16, len(cert.ID))], strings.Join(cert.Hosts, ","), cert.Issuer, cert.NotAfter.Format("2006-01-02"))
	}
	return tw.Flush()
}

func (c *cli) printRedirects(list []platform.Redirect) error {
	if c.json {
		return c.printJSON(list)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFROM\tPATH\tTO\tSTATUS")
	for _, r := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", r.ID, firstNonEmpty(r.From, "*"), firstNonEmpty(r.PathPrefix, "*"), r.To, r.Status)
	}
	return tw.Flush()
}

// limitsText describes an app's limits per replica.
func limitsText(a *platform.AppView) string {
	var parts []string
	if a.Memory > 0 {
		parts = append(parts, "memory "+strconv.FormatFloat(float64(a.Memory)/(1<<20), 'f', -1, 64)+" MiB")
	}
	if a.CPUs > 0 {
		parts = append(parts, strconv.FormatFloat(a.CPUs, 'f', -1, 64)+" CPUs")
	}
	return dash(strings.Join(parts, ", "))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// buildAppOpsCommands adds status, logs, restart, scale, webhook and
// openapi.
func buildAppOpsCommands(cmd *cobra.Command, c *cli) {
	cmd.AddCommand(&cobra.Command{
		Use:     "status",
		Short:   "Shows the engine's status: how many apps, how many config loads",
		Example: "  caddy paas status\n  caddy paas status --server https://paas.example.com --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var st platform.Status
			if err := c.do(cmd.Context(), http.MethodGet, "/status", nil, &st); err != nil {
				return err
			}
			if c.json {
				return c.printJSON(st)
			}
			fmt.Fprintf(c.out, "apps:          %d\nconfig loads:  %d\n", st.Apps, st.Attachments)
			return nil
		},
	})

	var logs struct {
		follow bool
		tail   int
	}
	logsCmd := &cobra.Command{
		Use:   "logs APP [--follow] [--tail N]",
		Short: "Prints the output of an app's running replicas; --follow streams it live",
		Long: `Prints the output (stdout and stderr) of the running replicas of an app's current
deployment, each line prefixed with its replica. --follow keeps streaming until Ctrl-C.
A deployment's build and start log is ` + "`caddy paas deploys logs APP ID`" + `.`,
		Example: `  caddy paas logs blog
  caddy paas logs blog --tail 20 --follow`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := c.client()
			if err != nil {
				return err
			}
			q := url.Values{"tail": {strconv.Itoa(logs.tail)}}
			if logs.follow {
				q.Set("follow", "1")
				// No overall timeout: a followed log lasts until Ctrl-C.
				cl.HTTP.Timeout = 0
			}
			path := "/apps/" + url.PathEscape(args[0]) + "/logs?" + q.Encode()
			return cl.Stream(cmdContext(cmd), path, logs.follow, c.out)
		},
	}
	logsCmd.Flags().BoolVarP(&logs.follow, "follow", "f", false, "Keep streaming new lines until Ctrl-C")
	logsCmd.Flags().IntVarP(&logs.tail, "tail", "n", 100, "Only the last N lines of each replica (0: all; at most 10000)")
	cmd.AddCommand(logsCmd)

	var restart struct {
		wait    bool
		timeout time.Duration
	}
	restartCmd := &cobra.Command{
		Use:   "restart APP [--wait]",
		Short: "Replaces an app's replicas with fresh ones of the current version (blue-green, no rebuild)",
		Example: `  caddy paas restart blog
  caddy paas restart blog --wait --timeout 2m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var d platform.Deployment
			if err := c.do(cmd.Context(), http.MethodPost, "/apps/"+url.PathEscape(args[0])+"/restart", nil, &d); err != nil {
				return err
			}
			return c.finishDeploy(cmd.Context(), &d, restart.wait, restart.timeout)
		},
	}
	restartCmd.Flags().BoolVar(&restart.wait, "wait", false, "Wait until the new replicas are live or failed")
	restartCmd.Flags().DurationVar(&restart.timeout, "timeout", 5*time.Minute, "How long --wait waits")
	cmd.AddCommand(restartCmd)

	var scale struct {
		wait    bool
		timeout time.Duration
	}
	scaleCmd := &cobra.Command{
		Use:   "scale APP N [--wait]",
		Short: "Sets the number of an app's load-balanced replicas (a blue-green deploy of the new count)",
		Example: `  caddy paas scale blog 3
  caddy paas scale blog 1 --wait`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.Atoi(args[1])
			if err != nil || n < 1 {
				return fmt.Errorf("replicas: want a whole number of at least 1, not %q", args[1])
			}
			var v platform.AppView
			if err := c.do(cmd.Context(), http.MethodPost, "/apps/"+url.PathEscape(args[0])+"/scale", map[string]int{"replicas": n}, &v); err != nil {
				return err
			}
			if scale.wait && v.Deployment != "" {
				if _, err := c.wait(cmd.Context(), v.Name, v.Deployment, scale.timeout); err != nil {
					return err
				}
				if err := c.do(cmd.Context(), http.MethodGet, "/apps/"+url.PathEscape(v.Name), nil, &v); err != nil {
					return err
				}
			}
			return c.printApps([]*platform.AppView{&v})
		},
	}
	scaleCmd.Flags().BoolVar(&scale.wait, "wait", false, "Wait until the new replicas are live or failed")
	scaleCmd.Flags().DurationVar(&scale.timeout, "timeout", 5*time.Minute, "How long --wait waits")
	cmd.AddCommand(scaleCmd)

	webhook := &cobra.Command{Use: "webhook", Short: "Shows an app's push webhook and makes a new secret for it"}
	cmd.AddCommand(webhook)
	webhook.AddCommand(&cobra.Command{
		Use:     "show APP",
		Short:   "Shows the app's webhook path per git host, the tracked branch and the latest deliveries",
		Example: "  caddy paas webhook show blog",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var info platform.WebhookInfo
			if err := c.do(cmd.Context(), http.MethodGet, "/apps/"+url.PathEscape(args[0])+"/webhook", nil, &info); err != nil {
				return err
			}
			return c.printWebhook(&info)
		},
	})
	webhook.AddCommand(&cobra.Command{
		Use:     "rotate-secret APP",
		Short:   "Makes a new webhook secret and prints it once (set it on the git host; the old one stops working)",
		Example: "  caddy paas webhook rotate-secret blog",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var info platform.WebhookInfo
			if err := c.do(cmd.Context(), http.MethodPost, "/apps/"+url.PathEscape(args[0])+"/webhook/secret", nil, &info); err != nil {
				return err
			}
			return c.printWebhook(&info)
		},
	})

	cmd.AddCommand(&cobra.Command{
		Use:     "openapi",
		Short:   "Prints the API's OpenAPI 3.1 document (JSON)",
		Example: "  caddy paas openapi > openapi.json\n  caddy paas openapi --server https://paas.example.com | jq '.paths | keys'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var doc json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, "/openapi.json", nil, &doc); err != nil {
				return err
			}
			return c.printJSON(doc)
		},
	})
}

func (c *cli) printWebhook(info *platform.WebhookInfo) error {
	if c.json {
		return c.printJSON(info)
	}
	tw := tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	for _, p := range sortedKeys(info.Paths) {
		fmt.Fprintf(tw, "%s:\t%s\n", p, info.Paths[p])
	}
	fmt.Fprintf(tw, "tracks:\t%s\n", dash(info.Tracks))
	if err := tw.Flush(); err != nil {
		return err
	}
	if info.Secret != "" {
		fmt.Fprintf(c.out, "\nsecret (shown only this once): %s\n", info.Secret)
	}
	if len(info.Deliveries) == 0 {
		return nil
	}
	fmt.Fprintln(c.out)
	tw = tabwriter.NewWriter(c.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tPROVIDER\tEVENT\tREF\tSTATUS\tDEPLOYMENT\tRESULT")
	for _, d := range info.Deliveries {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.At.Local().Format("2006-01-02 15:04:05"), d.Provider, dash(d.Event),
			dash(d.Ref), d.Status, dash(d.Deployment), oneLine(d.Result))
	}
	return tw.Flush()
}
