package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/auth"
)

// maxAnswerBytes caps an API answer read for a page. The largest a page
// reads is the app list: about a kilobyte per app.
const maxAnswerBytes = 32 << 20

// maxPooledBytes caps the buffers kept for reuse between pages.
const maxPooledBytes = 4 << 20

// apiError is an API answer with an error status: its status and its
// {"error", "code"} body.
type apiError struct {
	Status  int
	Message string
	Code    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d: %s", e.Status, e.Message) }

// get calls the public API in process: GET prefix+path as the visitor of
// r, with their session cookie and nothing else of their request, and
// decodes the JSON answer into out. The API authenticates and authorizes
// the call like any other, so a page can only show what the visitor may
// read.
func (h *Handler) get(r *http.Request, path string, out any) error {
	u, err := url.Parse(h.prefix + path)
	if err != nil {
		return &apiError{Status: http.StatusBadRequest, Message: "bad address"}
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, u.String(), http.NoBody)
	if err != nil {
		return &apiError{Status: http.StatusBadRequest, Message: "bad address"}
	}
	req.Host = r.Host
	req.RemoteAddr = r.RemoteAddr
	req.RequestURI = u.RequestURI()
	req.Header.Set("Accept", "application/json")
	if c, err := r.Cookie(auth.SessionCookie); err == nil {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	ans := &answer{header: http.Header{}, body: bufPool.Get().(*bytes.Buffer)}
	ans.body.Reset()
	defer func() {
		// A huge answer's buffer is not kept for the next page.
		if ans.body.Cap() <= maxPooledBytes {
			bufPool.Put(ans.body)
		}
	}()
	h.api.ServeHTTP(ans, req)
	if ans.status == 0 {
		ans.status = http.StatusOK
	}
	if ans.cut {
		return &apiError{Status: http.StatusBadGateway, Message: "the API's answer is too large to show"}
	}
	if ans.status >= 300 {
		var body admin.ErrorAnswer
		if json.Unmarshal(ans.body.Bytes(), &body) != nil || body.Error == "" {
			body.Error = http.StatusText(ans.status)
		}
		return &apiError{Status: ans.status, Message: body.Error, Code: body.Code}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(ans.body.Bytes(), out); err != nil {
		return &apiError{Status: http.StatusBadGateway, Message: "the API's answer could not be read"}
	}
	return nil
}

// answer keeps an in-process API answer.
type answer struct {
	header http.Header
	status int
	body   *bytes.Buffer
	cut    bool
}

func (a *answer) Header() http.Header { return a.header }

func (a *answer) WriteHeader(status int) {
	if a.status == 0 {
		a.status = status
	}
}

func (a *answer) Write(p []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if a.body.Len()+len(p) > maxAnswerBytes {
		a.cut = true
		return 0, errAnswerTooLarge
	}
	return a.body.Write(p)
}

var errAnswerTooLarge = fmt.Errorf("answer larger than %d bytes", maxAnswerBytes)

// me is the visitor as GET /me describes them.
type me = admin.Me

type meKey struct{}

// authStatus says whether first-run setup is needed, and who is logged in.
type authStatus = admin.AuthStatus

// session finds the visitor: GET /me with their cookie. With no session
// it redirects to the login page (or to first-run setup) and answers nil.
// The visitor is kept in the returned request's context, for the error
// pages' header.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) (*me, *http.Request) {
	var m me
	err := h.get(r, "/me", &m)
	if err == nil && m.User != nil && m.CSRFToken != "" {
		return &m, r.WithContext(context.WithValue(r.Context(), meKey{}, &m))
	}
	if ae, ok := err.(*apiError); err == nil || (ok && ae.Status == http.StatusUnauthorized) {
		h.toLogin(w, r)
		return nil, r
	}
	h.fail(w, r, err)
	return nil, r
}

// toLogin sends a visitor with no session to first-run setup when no user
// exists yet, else to the login page, which comes back here after.
func (h *Handler) toLogin(w http.ResponseWriter, r *http.Request) {
	var st admin.AuthStatus
	if err := h.get(r, "/auth/status", &st); err == nil && st.SetupRequired {
		redirect(w, r, "/setup")
		return
	}
	to := "/login"
	if next := safeNext(r.URL.RequestURI()); next != "/" {
		to += "?next=" + url.QueryEscape(next)
	}
	redirect(w, r, to)
}
