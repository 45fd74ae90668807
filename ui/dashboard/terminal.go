package dashboard

import (
	"net/http"
	"net/url"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/platform"
)

type terminalData struct {
	base
	App *platform.AppView
}

// terminalPage is a terminal into a running replica of an app: xterm.js
// (vendored, see scripts/assets.sh) and assets/terminal.js, which opens
// the API's WebSocket GET /apps/{name}/terminal from the browser. The API
// authorizes the socket before it upgrades (the reveal permission, a
// session, this site's Origin); the page only spares a visitor whose role
// does not allow it a form that cannot work.
func (h *Handler) terminalPage(w http.ResponseWriter, r *http.Request) {
	m, r := h.session(w, r)
	if m == nil {
		return
	}
	var app platform.AppView
	if err := h.get(r, "/apps/"+url.PathEscape(r.PathValue("name")), &app); err != nil {
		h.fail(w, r, err)
		return
	}
	if role := roleIn(m, app.Team); !role.Can(auth.PermReveal) {
		who := "You are not a member of team " + app.Team
		if role != "" {
			who = "Your role in team " + app.Team + " (" + string(role) + ")"
		}
		h.errorPage(w, r, http.StatusForbidden, who+" does not open terminals: that takes an owner or an admin of the team.")
		return
	}
	w.Header().Set("Content-Security-Policy", terminalPolicy)
	h.render(w, http.StatusOK, "terminal", terminalData{base: basePage("Terminal: "+app.Name, "apps", m, h.prefix), App: &app})
}
