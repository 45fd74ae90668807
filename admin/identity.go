package admin

import (
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/containers"
	"github.com/caddy-paas/caddy-paas/platform"
)

// The handlers of users, teams, tokens, sessions and the audit log. Like
// every handler they only decode, call and encode: authorization happened
// before them (authz.go).

func authOf(r *http.Request) *auth.Service { return callFrom(r).backend.Auth }

func principalOf(r *http.Request) *auth.Principal { return auth.PrincipalFrom(r.Context()) }

func (a *API) listEnv(e Engine, w http.ResponseWriter, r *http.Request) error {
	env, err := e.EnvKeys(r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, env)
}

func (a *API) revealEnv(e Engine, w http.ResponseWriter, r *http.Request) error {
	key := r.PathValue("key")
	v, err := e.RevealEnv(r.PathValue("name"), key)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, RevealedEnv{Key: key, Value: v})
}

// setSession sets the session cookie: HttpOnly, SameSite=Lax, Secure over
// HTTPS, for the session's whole lifetime (the server also ends it when
// idle).
func setSession(w http.ResponseWriter, r *http.Request, s *auth.IssuedSession) {
	http.SetCookie(w, &http.Cookie{
		Name: auth.SessionCookie, Value: s.ID, Path: "/", Expires: s.Expires,
		HttpOnly: true, Secure: auth.RequestInfoFrom(r.Context()).Secure, SameSite: http.SameSiteLaxMode,
	})
}

func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: auth.SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: auth.RequestInfoFrom(r.Context()).Secure, SameSite: http.SameSiteLaxMode,
	})
}

func (a *API) loggedIn(w http.ResponseWriter, r *http.Request, u *auth.User, s *auth.IssuedSession) error {
	setSession(w, r, s)
	c := callFrom(r)
	c.principal = &auth.Principal{Kind: auth.KindSession, User: u}
	c.target = "user/" + u.Email
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, LoginAnswer{User: u, CSRFToken: s.CSRF})
}

func (a *API) authStatus(e Engine, w http.ResponseWriter, r *http.Request) error {
	has, err := authOf(r).HasUsers()
	if err != nil {
		return err
	}
	out := AuthStatus{SetupRequired: !has}
	if p := principalOf(r); p != nil && p.User != nil {
		out.User = p.User
	}
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) setup(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in auth.SetupInput
	if err := decode(r, &in); err != nil {
		return err
	}
	u, s, err := authOf(r).Setup(r.Context(), in, auth.RequestInfoFrom(r.Context()))
	if err != nil {
		return err
	}
	return a.loggedIn(w, r, u, s)
}

func (a *API) login(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in auth.LoginInput
	if err := decode(r, &in); err != nil {
		return err
	}
	callFrom(r).target = "user/" + truncate(in.Email, 100)
	u, s, err := authOf(r).Login(r.Context(), in, auth.RequestInfoFrom(r.Context()))
	if err != nil {
		return err
	}
	return a.loggedIn(w, r, u, s)
}

func (a *API) acceptInvite(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in auth.AcceptInviteInput
	if err := decode(r, &in); err != nil {
		return err
	}
	u, s, err := authOf(r).AcceptInvite(r.Context(), in, auth.RequestInfoFrom(r.Context()))
	if err != nil {
		return err
	}
	return a.loggedIn(w, r, u, s)
}

func (a *API) logout(e Engine, w http.ResponseWriter, r *http.Request) error {
	if err := authOf(r).Logout(principalOf(r).SessionKey); err != nil {
		return err
	}
	clearSession(w, r)
	return writeJSON(w, http.StatusOK, LoggedOut{true})
}

func (a *API) me(e Engine, w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	out := Me{Kind: p.Kind, User: p.User, Teams: p.Teams, Token: p.Token}
	if p.Kind == auth.KindSession {
		out.CSRFToken = p.CSRF
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) changePassword(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in PasswordChange
	if err := decode(r, &in); err != nil {
		return err
	}
	p := principalOf(r)
	svc := authOf(r)
	if err := svc.ChangePassword(r.Context(), p.User.ID, in.CurrentPassword, in.NewPassword); err != nil {
		return err
	}
	// Every session ended, this one too: log in again with the new
	// password.
	clearSession(w, r)
	return writeJSON(w, http.StatusOK, Result{"password changed: every session has ended, log in again"})
}

func (a *API) beginTOTP(e Engine, w http.ResponseWriter, r *http.Request) error {
	out, err := authOf(r).BeginTOTP(r.Context(), principalOf(r).User.ID)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) confirmTOTP(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in CodeInput
	if err := decode(r, &in); err != nil {
		return err
	}
	out, err := authOf(r).ConfirmTOTP(r.Context(), principalOf(r).User.ID, in.Code)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusOK, out)
}

func (a *API) disableTOTP(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in PasswordInput
	if err := decode(r, &in); err != nil {
		return err
	}
	if err := authOf(r).DisableTOTP(r.Context(), principalOf(r).User.ID, in.Password); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, TOTPState{false})
}

func (a *API) listTokens(e Engine, w http.ResponseWriter, r *http.Request) error {
	list, err := authOf(r).Tokens(principalOf(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (a *API) createToken(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in auth.TokenInput
	if err := decode(r, &in); err != nil {
		return err
	}
	in.Team = teamFrom(r)
	out, err := authOf(r).CreateToken(r.Context(), principalOf(r), in)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, out)
}

func (a *API) deleteToken(e Engine, w http.ResponseWriter, r *http.Request) error {
	if err := authOf(r).DeleteToken(r.Context(), principalOf(r), r.PathValue("id")); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, Deleted{r.PathValue("id")})
}

func (a *API) listUsers(e Engine, w http.ResponseWriter, r *http.Request) error {
	list, err := authOf(r).Users()
	if err != nil {
		return err
	}
	if list == nil {
		list = []auth.User{}
	}
	return writeJSON(w, http.StatusOK, list)
}

func (a *API) createUser(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in auth.UserInput
	if err := decode(r, &in); err != nil {
		return err
	}
	out, err := authOf(r).CreateUser(r.Context(), in)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, out)
}

func (a *API) getUser(e Engine, w http.ResponseWriter, r *http.Request) error {
	u, err := authOf(r).User(r.PathValue("user"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (a *API) updateUser(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in auth.UserPatch
	if err := decode(r, &in); err != nil {
		return err
	}
	u, err := authOf(r).UpdateUser(r.Context(), r.PathValue("user"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, u)
}

func (a *API) deleteUser(e Engine, w http.ResponseWriter, r *http.Request) error {
	if err := authOf(r).DeleteUser(r.Context(), r.PathValue("user")); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, Deleted{r.PathValue("user")})
}

func (a *API) listTeams(e Engine, w http.ResponseWriter, r *http.Request) error {
	list, err := authOf(r).Teams(principalOf(r))
	if err != nil {
		return err
	}
	if list == nil {
		list = []*auth.TeamView{}
	}
	return writeJSON(w, http.StatusOK, list)
}

func (a *API) createTeam(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in TeamInput
	if err := decode(r, &in); err != nil {
		return err
	}
	callFrom(r).team = in.Name
	t, err := authOf(r).CreateTeam(r.Context(), principalOf(r), in.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, t)
}

func (a *API) getTeam(e Engine, w http.ResponseWriter, r *http.Request) error {
	t, err := authOf(r).Team(principalOf(r), r.PathValue("team"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, t)
}

func (a *API) deleteTeam(e Engine, w http.ResponseWriter, r *http.Request) error {
	team := r.PathValue("team")
	has, err := e.TeamHasApps(team)
	if err != nil {
		return err
	}
	if has {
		return &platform.Error{Status: http.StatusConflict, Message: "team \"" + team + "\" still has apps: delete or move them first"}
	}
	if err := authOf(r).DeleteTeam(r.Context(), team); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, Deleted{team})
}

func (a *API) addMember(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in auth.MemberInput
	if err := decode(r, &in); err != nil {
		return err
	}
	out, err := authOf(r).AddMember(r.Context(), principalOf(r), r.PathValue("team"), in)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return writeJSON(w, http.StatusCreated, out)
}

func (a *API) setRole(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in RoleInput
	if err := decode(r, &in); err != nil {
		return err
	}
	m, err := authOf(r).SetRole(r.Context(), principalOf(r), r.PathValue("team"), r.PathValue("user"), in.Role)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, m)
}

func (a *API) removeMember(e Engine, w http.ResponseWriter, r *http.Request) error {
	if err := authOf(r).RemoveMember(r.Context(), principalOf(r), r.PathValue("team"), r.PathValue("user")); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, Removed{r.PathValue("user")})
}

func (a *API) teamAudit(e Engine, w http.ResponseWriter, r *http.Request) error {
	f, err := auth.ParseAuditFilter(r.URL.Query().Get("before"), r.URL.Query().Get("limit"))
	if err != nil {
		return err
	}
	f.Team = r.PathValue("team")
	list, err := authOf(r).Audit(f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (a *API) listAudit(e Engine, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f, err := auth.ParseAuditFilter(q.Get("before"), q.Get("limit"))
	if err != nil {
		return err
	}
	f.Team = q.Get("team")
	list, err := authOf(r).Audit(f)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (a *API) rotateKey(e Engine, w http.ResponseWriter, r *http.Request) error {
	rotate := callFrom(r).backend.RotateKey
	if rotate == nil {
		return &platform.Error{Status: http.StatusServiceUnavailable, Message: "key rotation is not available"}
	}
	kid, err := rotate(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, KeyID{kid})
}

func (a *API) setEnv(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in EnvPatch
	if err := decode(r, &in); err != nil {
		return err
	}
	if len(in.Env) == 0 {
		return &platform.Error{Status: http.StatusBadRequest, Message: "env is required: {\"env\": {\"KEY\": \"value\"}}"}
	}
	v, err := e.UpdateApp(r.Context(), r.PathValue("name"), platform.AppPatch{Env: in.Env, NoDeploy: in.Deploy != nil && !*in.Deploy})
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) restartApp(e Engine, w http.ResponseWriter, r *http.Request) error {
	d, err := e.RestartApp(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, d)
}

func (a *API) scaleApp(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in ScaleInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := e.ScaleApp(r.Context(), r.PathValue("name"), in.Replicas)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

// appLogs streams the app's replicas' output: text, or server-sent events
// with Accept: text/event-stream or ?follow=1 (which keeps streaming).
func (a *API) appLogs(e Engine, w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	opts := containers.LogOptions{}
	if t := q.Get("tail"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil {
			return &platform.Error{Status: http.StatusBadRequest, Message: "tail must be a number"}
		}
		opts.Tail = n
	}
	follow := q.Get("follow") == "1" || q.Get("follow") == "true"
	opts.Follow = follow
	sse := follow || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	return streamText(w, sse, func(dst io.Writer, flush func()) error {
		return e.AppLogs(r.Context(), r.PathValue("name"), opts, dst, flush)
	})
}

// revokeOwnToken deletes the token the request authenticates with: a token
// can always end itself, never another one.
func (a *API) revokeOwnToken(e Engine, w http.ResponseWriter, r *http.Request) error {
	p := principalOf(r)
	if p.Token == nil {
		return &platform.Error{Status: http.StatusBadRequest, Message: "this request is not made with an API token"}
	}
	if err := authOf(r).DeleteToken(r.Context(), p, p.Token.ID); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, Deleted{p.Token.ID})
}
