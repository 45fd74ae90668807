// Package admin is the JSON API of caddy-paas. The same handler serves
// Caddy's local admin endpoint under /paas/ and, later, the authenticated
// public API under /api/v1/: it only decodes, calls the platform and encodes.
package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddy-paas/caddy-paas/auth"
	"github.com/caddy-paas/caddy-paas/containers"
	"github.com/caddy-paas/caddy-paas/platform"
)

// MaxBodyBytes caps every request body; larger bodies get 413 before
// anything is decoded.
const MaxBodyBytes = 1 << 20

const errEmptyBody = "request body is empty"

// Engine is what the API needs from the platform.
type Engine interface {
	Apps() ([]*platform.AppView, error)
	App(name string) (*platform.AppView, error)
	CreateApp(ctx context.Context, in platform.AppInput) (*platform.AppView, error)
	UpdateApp(ctx context.Context, name string, p platform.AppPatch) (*platform.AppView, error)
	DeleteApp(ctx context.Context, name string) error
	Deploy(ctx context.Context, name string, in platform.DeployInput) (*platform.Deployment, error)
	Rollback(ctx context.Context, name, deployment string) (*platform.Deployment, error)
	StopApp(ctx context.Context, name string) (*platform.AppView, error)
	StartApp(ctx context.Context, name string) (*platform.AppView, error)
	Deployments(name string) ([]*platform.Deployment, error)
	Deployment(name, id string) (*platform.Deployment, error)
	DeployUpload(ctx context.Context, name string, archive io.Reader) (*platform.Deployment, error)
	CancelDeployment(name, id string) (*platform.Deployment, error)
	Webhook(name string, rotate bool) (*platform.WebhookInfo, error)
	CreateDeployKey(name string) (string, error)
	Redirects(name string) ([]platform.Redirect, error)
	AddRedirect(name string, r platform.Redirect) (*platform.Redirect, error)
	RemoveRedirect(name, id string) error
	Domains(ctx context.Context, name string) ([]platform.DomainStatus, error)
	AddDomains(ctx context.Context, name string, domains []string) (*platform.AppView, error)
	RemoveDomain(ctx context.Context, name, domain string) (*platform.AppView, error)
	Certs(name string) ([]platform.CustomCert, error)
	UploadCert(name string, in platform.CertInput) (*platform.CustomCert, error)
	RemoveCert(name, id string) error
	FollowLog(ctx context.Context, name, id string, w io.Writer, flush func()) error
	Status() platform.Status
	AppTeam(name string) (string, error)
	TeamHasApps(team string) (bool, error)
	EnvKeys(name string) (map[string]string, error)
	RevealEnv(name, key string) (string, error)
	AppLogs(ctx context.Context, name string, opts containers.LogOptions, w io.Writer, flush func()) error
	RestartApp(ctx context.Context, name string) (*platform.Deployment, error)
	ScaleApp(ctx context.Context, name string, replicas int) (*platform.AppView, error)
	OpenTerminal(ctx context.Context, name, replica string, cmd []string) (*platform.Terminal, error)
}

// API serves the platform's operations as JSON under a path prefix, on
// one surface: the trusted local admin endpoint, or the public API.
type API struct {
	prefix  string
	surface Surface
	backend func() (*Backend, error)
	mux     *http.ServeMux
	// routes are the routes served on this surface.
	routes []Route

	openAPIOnce sync.Once
	openAPIDoc  []byte
	openAPIErr  error
}

// Backend is what the API calls: the engine, the identity service and the
// key rotation.
type Backend struct {
	Engine Engine
	Auth   *auth.Service
	// RotateKey re-seals every secret under a new master key and returns
	// the new key's id.
	RotateKey func(ctx context.Context) (string, error)
}

// New returns the API under prefix (such as "/paas" or "/api/v1") on a
// surface. backend is called per request, so the API follows the engine of
// the current config.
func New(prefix string, surface Surface, backend func() (*Backend, error)) *API {
	a := &API{prefix: strings.TrimSuffix(prefix, "/"), surface: surface, backend: backend, mux: http.NewServeMux()}
	for _, rt := range Routes {
		if err := rt.check(); err != nil {
			panic(err)
		}
		if rt.PublicOnly && surface != SurfacePublic {
			continue
		}
		a.routes = append(a.routes, rt)
		rt := rt
		a.mux.HandleFunc(rt.Method+" "+a.prefix+rt.Path, func(w http.ResponseWriter, r *http.Request) {
			a.serve(rt, w, r)
		})
	}
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	limit := int64(MaxBodyBytes)
	if isUpload(r) {
		// Source archives are large; they are streamed to disk, never
		// held in memory, and the archive's own limits apply on top.
		limit = platform.MaxUploadBytes + 1<<20
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	// The mux answers an unknown path or a wrong method in plain text;
	// keep every answer JSON.
	if _, pattern := a.mux.Handler(r); pattern == "" {
		if r.Method == http.MethodOptions {
			// No CORS: a preflight from another origin gets no
			// Access-Control-Allow-* header, so the browser stops there.
			writeError(w, &platform.Error{Status: http.StatusForbidden, Message: "cross-origin requests are not allowed"})
			return
		}
		if allowed := a.allowedMethods(r); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, &platform.Error{Status: http.StatusMethodNotAllowed, Message: "method " + r.Method + " not allowed on " + r.URL.Path})
			return
		}
		writeError(w, &platform.Error{Status: http.StatusNotFound, Message: "no such endpoint: " + r.URL.Path})
		return
	}
	a.mux.ServeHTTP(w, r)
}

// allowedMethods lists the methods that some route serves on r's path.
func (a *API) allowedMethods(r *http.Request) []string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := a.mux.Handler(probe); pattern != "" {
			out = append(out, m)
		}
	}
	return out
}

// decode reads one JSON value, refusing unknown fields and trailing data.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &platform.Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)}
		}
		if errors.Is(err, io.EOF) {
			return &platform.Error{Status: http.StatusBadRequest, Message: errEmptyBody}
		}
		return &platform.Error{Status: http.StatusBadRequest, Message: "malformed JSON: " + jsonMessage(err)}
	}
	if dec.More() {
		return &platform.Error{Status: http.StatusBadRequest, Message: "malformed JSON: trailing data after the object"}
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &platform.Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes)}
		}
		return &platform.Error{Status: http.StatusBadRequest, Message: "malformed JSON: trailing data after the object"}
	}
	return nil
}

// jsonMessage describes a decoding error without quoting the input, which
// may hold a secret.
func jsonMessage(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q must be %s", typ.Field, typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		// The name comes from the body: keep it short.
		return truncate(strings.TrimPrefix(err.Error(), "json: "), 120)
	}
	return "cannot decode the body"
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	// A browser never sniffs an answer into HTML (names and log lines
	// are data), and no cache keeps one.
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

// writeError answers {"error": "..."}; an unexpected error's text is not
// shown, as it may come from deep inside and carry details.
func writeError(w http.ResponseWriter, err error) {
	status := platform.StatusOf(err)
	msg := err.Error()
	if status == http.StatusInternalServerError {
		msg = "internal error: " + firstLine(msg)
	}
	body := map[string]string{"error": msg}
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) && coded.ErrorCode() != "" {
		body["code"] = coded.ErrorCode()
	}
	var retry interface{ RetryAfterSeconds() int }
	if errors.As(err, &retry) && retry.RetryAfterSeconds() > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(retry.RetryAfterSeconds()))
	}
	if rec, ok := w.(*recorder); ok {
		rec.errMsg = msg
	}
	_ = writeJSON(w, status, body)
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (a *API) status(e Engine, w http.ResponseWriter, r *http.Request) error {
	return writeJSON(w, http.StatusOK, e.Status())
}

func (a *API) listApps(e Engine, w http.ResponseWriter, r *http.Request) error {
	apps, err := e.Apps()
	if err != nil {
		return err
	}
	p := auth.PrincipalFrom(r.Context())
	visible := apps[:0:0]
	for _, v := range apps {
		if p != nil && p.Sees(v.Team) {
			visible = append(visible, v)
		}
	}
	return writeJSON(w, http.StatusOK, visible)
}

func (a *API) createApp(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in platform.AppInput
	if err := decode(r, &in); err != nil {
		return err
	}
	// The team the authorization checked, whatever the body said.
	in.Team = teamFrom(r)
	v, err := e.CreateApp(r.Context(), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (a *API) getApp(e Engine, w http.ResponseWriter, r *http.Request) error {
	v, err := e.App(r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) updateApp(e Engine, w http.ResponseWriter, r *http.Request) error {
	var p platform.AppPatch
	if err := decode(r, &p); err != nil {
		return err
	}
	v, err := e.UpdateApp(r.Context(), r.PathValue("name"), p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) deleteApp(e Engine, w http.ResponseWriter, r *http.Request) error {
	if err := e.DeleteApp(r.Context(), r.PathValue("name")); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, Deleted{r.PathValue("name")})
}

func (a *API) stopApp(e Engine, w http.ResponseWriter, r *http.Request) error {
	v, err := e.StopApp(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) startApp(e Engine, w http.ResponseWriter, r *http.Request) error {
	v, err := e.StartApp(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) listDeploys(e Engine, w http.ResponseWriter, r *http.Request) error {
	list, err := e.Deployments(r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

// isUpload reports whether a request carries a source archive: a
// multipart form (field "source") or a zip, gzip or tar body.
func isUpload(r *http.Request) bool {
	if r.Method != http.MethodPost {
		return false
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "multipart/form-data", "application/zip", "application/gzip", "application/x-gzip", "application/x-tar", "application/octet-stream":
		return strings.HasSuffix(r.URL.Path, "/deploys")
	}
	return false
}

func (a *API) deploy(e Engine, w http.ResponseWriter, r *http.Request) error {
	if isUpload(r) {
		return a.deployUpload(e, w, r)
	}
	// An empty body redeploys the app as it is.
	var in platform.DeployInput
	if err := decode(r, &in); err != nil && err.Error() != errEmptyBody {
		return err
	}
	d, err := e.Deploy(r.Context(), r.PathValue("name"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, d)
}

// deployUpload deploys an uploaded source archive: the body itself, or the
// "source" file of a multipart form, streamed without buffering it whole.
func (a *API) deployUpload(e Engine, w http.ResponseWriter, r *http.Request) error {
	// Caddy's admin server gives a whole request 10 s to arrive: a large
	// archive on an ordinary link takes longer, so an upload gets its own
	// deadline (a server without deadlines, or a recorder, ignores this).
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(UploadReadTimeout))
	var body io.Reader = r.Body
	ct, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "multipart/form-data" {
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			part, err := mr.NextPart()
			if err != nil {
				return uploadError(err, "multipart form has no \"source\" file")
			}
			if part.FormName() == "source" {
				body = part
				break
			}
			part.Close()
		}
	}
	d, err := e.DeployUpload(r.Context(), r.PathValue("name"), body)
	if err != nil {
		if re := readError(err); re != nil {
			return re
		}
		return err
	}
	return writeJSON(w, http.StatusAccepted, d)
}

// UploadReadTimeout is how long an uploaded source archive may take to
// arrive: 200 MB (the upload limit) at ~0.3 MB/s.
const UploadReadTimeout = 10 * time.Minute

// readError turns a failure to read an upload into a clear client error:
// too large (413) or too slow (408); nil when err is neither.
func readError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &platform.Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("upload is larger than %d bytes", platform.MaxUploadBytes)}
	}
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &platform.Error{Status: http.StatusRequestTimeout, Message: fmt.Sprintf("the upload did not arrive within %s", UploadReadTimeout)}
	}
	return nil
}

// uploadError is readError, else a 400 saying msg.
func uploadError(err error, msg string) error {
	if re := readError(err); re != nil {
		return re
	}
	return &platform.Error{Status: http.StatusBadRequest, Message: msg}
}

func (a *API) cancelDeploy(e Engine, w http.ResponseWriter, r *http.Request) error {
	d, err := e.CancelDeployment(r.PathValue("name"), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// createDeployKey makes a new SSH deploy key and answers its public half.
func (a *API) createDeployKey(e Engine, w http.ResponseWriter, r *http.Request) error {
	pub, err := e.CreateDeployKey(r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, PublicKey{pub})
}

func (a *API) listRedirects(e Engine, w http.ResponseWriter, r *http.Request) error {
	list, err := e.Redirects(r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (a *API) addRedirect(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in platform.Redirect
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.ID != "" {
		return &platform.Error{Status: http.StatusBadRequest, Message: "a redirect's id is chosen by the server"}
	}
	out, err := e.AddRedirect(r.PathValue("name"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, out)
}

func (a *API) removeRedirect(e Engine, w http.ResponseWriter, r *http.Request) error {
	if err := e.RemoveRedirect(r.PathValue("name"), r.PathValue("id")); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, Deleted{r.PathValue("id")})
}

func (a *API) listDomains(e Engine, w http.ResponseWriter, r *http.Request) error {
	list, err := e.Domains(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (a *API) addDomains(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in DomainsInput
	if err := decode(r, &in); err != nil {
		return err
	}
	v, err := e.AddDomains(r.Context(), r.PathValue("name"), in.Domains)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) removeDomain(e Engine, w http.ResponseWriter, r *http.Request) error {
	v, err := e.RemoveDomain(r.Context(), r.PathValue("name"), r.PathValue("domain"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (a *API) listCerts(e Engine, w http.ResponseWriter, r *http.Request) error {
	list, err := e.Certs(r.PathValue("name"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, list)
}

func (a *API) uploadCert(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in platform.CertInput
	if err := decode(r, &in); err != nil {
		return err
	}
	out, err := e.UploadCert(r.PathValue("name"), in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, out)
}

func (a *API) removeCert(e Engine, w http.ResponseWriter, r *http.Request) error {
	if err := e.RemoveCert(r.PathValue("name"), r.PathValue("id")); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, Deleted{r.PathValue("id")})
}

func (a *API) webhook(e Engine, w http.ResponseWriter, r *http.Request) error {
	info, err := e.Webhook(r.PathValue("name"), false)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, info)
}

// rotateWebhookSecret makes a new webhook secret and shows it, once.
func (a *API) rotateWebhookSecret(e Engine, w http.ResponseWriter, r *http.Request) error {
	info, err := e.Webhook(r.PathValue("name"), true)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, info)
}

func (a *API) getDeploy(e Engine, w http.ResponseWriter, r *http.Request) error {
	d, err := e.Deployment(r.PathValue("name"), r.PathValue("id"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// deployLogs answers a deployment's log: plain text, or with
// Accept: text/event-stream (or ?follow=1) a stream of server-sent events,
// one "data:" line per log line, live while the deploy runs, ending with an
// "end" event. Headers are sent with the first byte, so an unknown app or
// deployment still gets a JSON error.
func (a *API) deployLogs(e Engine, w http.ResponseWriter, r *http.Request) error {
	name, id := r.PathValue("name"), r.PathValue("id")
	sse := strings.Contains(r.Header.Get("Accept"), "text/event-stream") || r.URL.Query().Get("follow") == "1"
	return streamText(w, sse, func(dst io.Writer, flush func()) error {
		return e.FollowLog(r.Context(), name, id, dst, flush)
	})
}

// streamText answers what run writes: plain text, or with sse one
// server-sent event per line and a final "end" event. Headers go with the
// first byte, so an error before it is still a JSON error.
func streamText(w http.ResponseWriter, sse bool, run func(dst io.Writer, flush func()) error) error {
	// A ResponseController reaches the connection's writer through the
	// wrappers (Caddy's admin metrics wrapper has no Flush of its own).
	rc := http.NewResponseController(w)
	flush := func() { _ = rc.Flush() }
	out := &startOnWrite{w: w, contentType: "text/plain; charset=utf-8"}
	var dst io.Writer = out
	var ev *sseWriter
	if sse {
		out.contentType = "text/event-stream"
		ev = &sseWriter{w: out}
		dst = ev
	}
	err := run(dst, flush)
	if err != nil && !out.started {
		return err
	}
	out.start()
	if sse && err == nil {
		ev.finish()
		_, _ = io.WriteString(out, "event: end\ndata: \n\n")
	}
	flush()
	return nil
}

// startOnWrite sends the response headers with the first write.
type startOnWrite struct {
	w           http.ResponseWriter
	contentType string
	started     bool
}

func (s *startOnWrite) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", s.contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	s.w.WriteHeader(http.StatusOK)
}

func (s *startOnWrite) Write(p []byte) (int, error) {
	s.start()
	return s.w.Write(p)
}

// sseWriter turns a byte stream into server-sent events, one per line.
type sseWriter struct {
	w       io.Writer
	partial []byte
}

func (s *sseWriter) Write(p []byte) (int, error) {
	s.partial = append(s.partial, p...)
	for {
		i := bytes.IndexByte(s.partial, '\n')
		if i < 0 {
			break
		}
		line := bytes.TrimRight(s.partial[:i], "\r")
		if _, err := fmt.Fprintf(s.w, "data: %s\n\n", line); err != nil {
			return 0, err
		}
		s.partial = s.partial[i+1:]
	}
	return len(p), nil
}

func (s *sseWriter) finish() {
	if len(s.partial) > 0 {
		fmt.Fprintf(s.w, "data: %s\n\n", s.partial)
		s.partial = nil
	}
}

func (a *API) rollback(e Engine, w http.ResponseWriter, r *http.Request) error {
	var in RollbackInput
	if err := decode(r, &in); err != nil {
		return err
	}
	d, err := e.Rollback(r.Context(), r.PathValue("name"), in.Deployment)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, d)
}
