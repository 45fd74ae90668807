package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"go.uber.org/zap"

	"github.com/caddy-paas/caddy-paas/admin"
)

// ServerName is the MCP server's name in the initialize answer.
const ServerName = "caddy-paas"

// DefaultCallTimeout bounds an API call of a tool.
const DefaultCallTimeout = 2 * time.Minute

// Options tune a server.
type Options struct {
	// ToolFilter hides the tools the caller may not use: a tool is listed
	// and callable only when it answers true for the tool's route. It is
	// a convenience for the agent, not the security boundary: the API
	// authorizes every call again. nil shows every tool.
	ToolFilter func(ctx context.Context, r admin.Route) bool
	// CallerKey names the caller a confirmation code is bound to, such as
	// the API token's id, so that one caller's code cannot approve
	// another's call. nil: every call comes from one caller (stdio).
	CallerKey func(ctx context.Context) string
	// Confirmations keeps the pending codes of destructive tools. nil: a
	// store with DefaultConfirmTTL and DefaultMaxPending.
	Confirmations *Confirmations
	// OnCall is told of every tool call when it ends, including those that
	// never reach the API (a confirmation code issued or refused, a hidden
	// tool, bad arguments), for the audit log. The API audits the others
	// itself.
	OnCall func(ctx context.Context, c Call)
	// CallTimeout bounds each API call, and so a followed log: the tool
	// answers what came until then. Default: DefaultCallTimeout.
	CallTimeout time.Duration
	// Logger logs each call (tool, outcome, status; never an argument).
	Logger *zap.Logger
	// Version is the server version in the initialize answer.
	Version string
}

// Outcome says how a tool call ended.
type Outcome string

// The outcomes of a tool call.
const (
	// OutcomeCalled: the API was called; Call.Status is its answer.
	OutcomeCalled Outcome = "called"
	// OutcomeConfirmIssued: a destructive tool answered a code and did
	// nothing.
	OutcomeConfirmIssued Outcome = "confirmation_issued"
	// OutcomeConfirmRefused: a wrong, used or expired code; nothing done.
	OutcomeConfirmRefused Outcome = "confirmation_refused"
	// OutcomeRefused: a hidden tool or invalid arguments; nothing done.
	OutcomeRefused Outcome = "refused"
	// OutcomeFailed: the API could not be reached.
	OutcomeFailed Outcome = "failed"
)

// Call describes one tool call, for the audit log. It holds no argument
// values: they may be secrets.
type Call struct {
	Tool    string
	RouteID string
	Method  string
	// Path is the API path the call targets (without query), when the
	// arguments made one.
	Path    string
	Outcome Outcome
	// Status is the API's status (OutcomeCalled), else what the outcome
	// maps to (202 for a code issued, 403 for a refusal, 400 for bad
	// arguments).
	Status int
	// Message is the error shown to the agent, if any.
	Message string
}

// NewServer returns an MCP server with a tool for every exposed operation
// of admin.Routes and the app resources, each calling the API through inv.
func NewServer(inv Invoker, opts Options) *server.MCPServer {
	if opts.Confirmations == nil {
		opts.Confirmations = NewConfirmations(0, 0)
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Version == "" {
		opts.Version = "dev"
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = DefaultCallTimeout
	}
	tools := Tools()
	byName := make(map[string]admin.Route, len(tools))
	for _, t := range tools {
		byName[t.Name] = t.Route
	}
	serverOpts := []server.ServerOption{
		server.WithToolCapabilities(false),
		server.WithResourceCapabilities(false, false),
		server.WithRecovery(),
		server.WithInputSchemaValidation(),
		server.WithInstructions(instructions),
	}
	if opts.ToolFilter != nil {
		filter := opts.ToolFilter
		serverOpts = append(serverOpts, server.WithToolFilter(func(ctx context.Context, list []mcpgo.Tool) []mcpgo.Tool {
			out := list[:0:0]
			for _, t := range list {
				if r, ok := byName[t.Name]; ok && filter(ctx, r) {
					out = append(out, t)
				}
			}
			return out
		}))
	}
	s := server.NewMCPServer(ServerName, opts.Version, serverOpts...)
	h := &handler{inv: inv, opts: opts}
	for _, t := range tools {
		tool := mcpgo.NewToolWithRawSchema(t.Name, t.Description, t.Schema)
		get := t.Route.Method == http.MethodGet
		tool.Annotations = mcpgo.ToolAnnotation{
			Title:           t.Route.Summary,
			ReadOnlyHint:    mcpgo.ToBoolPtr(get),
			DestructiveHint: mcpgo.ToBoolPtr(t.Route.Destructive),
			IdempotentHint:  mcpgo.ToBoolPtr(get),
			OpenWorldHint:   mcpgo.ToBoolPtr(false),
		}
		s.AddTool(tool, h.tool(t))
	}
	h.addResources(s)
	return s
}

const instructions = `Tools of a caddy-paas platform: one per operation of its API (apps, deployments, domains, teams...). ` +
	`Each acts with the permissions of your credentials, in their team. ` +
	`Destructive tools answer a confirmation code first: call them again with the same arguments and "confirm" set to it. ` +
	`Resources: paas://apps (the apps you see), paas://apps/{name} (an app), paas://apps/{name}/deploys/{id}/logs (a deployment's log).`

type handler struct {
	inv  Invoker
	opts Options
}

func (h *handler) callerKey(ctx context.Context) string {
	if h.opts.CallerKey == nil {
		return ""
	}
	return h.opts.CallerKey(ctx)
}

func (h *handler) done(ctx context.Context, c Call) {
	h.opts.Logger.Info("mcp tool call", zap.String("tool", c.Tool), zap.String("outcome", string(c.Outcome)), zap.Int("status", c.Status))
	if h.opts.OnCall != nil {
		h.opts.OnCall(ctx, c)
	}
}

// tool is the handler of one tool: arguments to request, the confirmation
// step, the call, the answer as text.
func (h *handler) tool(t Tool) server.ToolHandlerFunc {
	r := t.Route
	return func(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
		call := Call{Tool: t.Name, RouteID: r.ID, Method: r.Method}
		refuse := func(outcome Outcome, status int, msg string) (*mcpgo.CallToolResult, error) {
			call.Outcome, call.Status, call.Message = outcome, status, msg
			h.done(ctx, call)
			return mcpgo.NewToolResultError(msg), nil
		}
		if h.opts.ToolFilter != nil && !h.opts.ToolFilter(ctx, r) {
			return refuse(OutcomeRefused, http.StatusForbidden, "tool "+t.Name+" is not available to these credentials")
		}
		args, err := arguments(req)
		if err != nil {
			return refuse(OutcomeRefused, http.StatusBadRequest, err.Error())
		}
		confirm := ""
		if r.Destructive {
			if v, ok := args[ConfirmArg]; ok {
				s, isString := v.(string)
				if !isString {
					return refuse(OutcomeRefused, http.StatusBadRequest, ConfirmArg+" must be a string")
				}
				confirm = s
				args = withoutKey(args, ConfirmArg)
			}
		}
		path, body, err := t.request(args)
		call.Path, _, _ = strings.Cut(path, "?")
		if err != nil {
			return refuse(OutcomeRefused, http.StatusBadRequest, err.Error())
		}
		if r.Destructive {
			caller := h.callerKey(ctx)
			if confirm == "" {
				code, expires, err := h.opts.Confirmations.Issue(t.Name, caller, args)
				if err != nil {
					return refuse(OutcomeRefused, http.StatusBadRequest, "arguments cannot be encoded: "+err.Error())
				}
				call.Outcome, call.Status = OutcomeConfirmIssued, http.StatusAccepted
				h.done(ctx, call)
				return mcpgo.NewToolResultText(fmt.Sprintf(
					"Nothing was done yet. %s is destructive: %s (%s %s).\n"+
						"To proceed, call %s again with the same arguments plus \"%s\": %q before %s (in %s). The code works once.",
					t.Name, strings.TrimSuffix(r.Summary, "."), r.Method, call.Path,
					t.Name, ConfirmArg, code, expires.UTC().Format(time.RFC3339), time.Until(expires).Round(time.Second))), nil
			}
			if !h.opts.Confirmations.Redeem(t.Name, caller, args, confirm) {
				return refuse(OutcomeConfirmRefused, http.StatusForbidden,
					"confirmation refused: the code is wrong, used, expired, or was issued for other arguments; nothing was done. "+
						"Call "+t.Name+" without \""+ConfirmArg+"\" for a new code.")
			}
		}
		status, ctype, data, err := h.do(ctx, r.Method, path, body)
		if err != nil {
			return refuse(OutcomeFailed, http.StatusBadGateway, err.Error())
		}
		call.Outcome, call.Status = OutcomeCalled, status
		if status >= 400 {
			call.Message = errorMessage(status, data)
			h.done(ctx, call)
			return mcpgo.NewToolResultError(call.Message), nil
		}
		h.done(ctx, call)
		return mcpgo.NewToolResultText(answerText(ctype, data)), nil
	}
}

// do calls the API within the call timeout.
func (h *handler) do(ctx context.Context, method, path string, body []byte) (int, string, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, h.opts.CallTimeout)
	defer cancel()
	return h.inv.Do(ctx, method, path, body)
}

func withoutKey(m map[string]any, key string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// arguments are the call's arguments, numbers kept exact (json.Number)
// when the call came as JSON.
func arguments(req mcpgo.CallToolRequest) (map[string]any, error) {
	args := map[string]any{}
	if raw := req.Params.RawArguments; len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, errors.New("arguments are not valid JSON")
		}
		if v == nil {
			return args, nil
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, errors.New("arguments must be an object")
		}
		return m, nil
	}
	switch v := req.Params.Arguments.(type) {
	case nil:
	case map[string]any:
		args = v
	default:
		return nil, errors.New("arguments must be an object")
	}
	return args, nil
}

// request builds the API path (with its query) and JSON body from the
// arguments.
func (t Tool) request(args map[string]any) (string, []byte, error) {
	for k := range args {
		if !t.takes(k) {
			return "", nil, fmt.Errorf("unknown argument %q; %s takes: %s", k, t.Name, strings.Join(t.argNames(), ", "))
		}
	}
	path := t.Route.Path
	for _, p := range t.PathParams {
		v, ok := args[p]
		s, isString := v.(string)
		if !ok || !isString || s == "" {
			return "", nil, fmt.Errorf("argument %q is required: a non-empty string", p)
		}
		// One path segment, always: no "/", and no "." or ".." that a
		// router would clean into another path.
		if s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") || len(s) > 1024 {
			return "", nil, fmt.Errorf("argument %q is not a valid name", p)
		}
		path = replaceParam(path, p, url.PathEscape(s))
	}
	q := url.Values{}
	for _, p := range t.Query {
		v, ok := args[p.Name]
		if !ok || v == nil {
			continue
		}
		s, err := queryValue(p, v)
		if err != nil {
			return "", nil, err
		}
		q.Set(p.Name, s)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	if t.Route.Request == nil {
		return path, nil, nil
	}
	var payload any
	if t.WholeBody {
		payload = args[BodyArg]
		if payload == nil {
			return path, nil, nil
		}
	} else {
		fields := map[string]any{}
		for _, f := range t.BodyFields {
			if v, ok := args[f]; ok {
				fields[f] = v
			}
		}
		payload = fields
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return "", nil, fmt.Errorf("encoding the body: %w", err)
	}
	return path, body, nil
}

// replaceParam puts a value in place of {name} (or {name...}).
func replaceParam(path, name, value string) string {
	path = strings.Replace(path, "{"+name+"...}", value, 1)
	return strings.Replace(path, "{"+name+"}", value, 1)
}

func (t Tool) takes(arg string) bool {
	switch {
	case slices.Contains(t.PathParams, arg), slices.Contains(t.BodyFields, arg):
		return true
	case t.WholeBody && arg == BodyArg:
		return true
	}
	return slices.ContainsFunc(t.Query, func(p admin.Param) bool { return p.Name == arg })
}

func (t Tool) argNames() []string {
	names := slices.Clone(t.PathParams)
	for _, p := range t.Query {
		names = append(names, p.Name)
	}
	names = append(names, t.BodyFields...)
	if t.WholeBody {
		names = append(names, BodyArg)
	}
	if t.Route.Destructive {
		names = append(names, ConfirmArg)
	}
	if len(names) == 0 {
		return []string{"nothing"}
	}
	return names
}

// queryValue formats a query argument: booleans as 1 or 0 (what the API's
// switches read), integers without a fraction.
func queryValue(p admin.Param, v any) (string, error) {
	switch p.Type {
	case "boolean":
		b, ok := v.(bool)
		if !ok {
			return "", fmt.Errorf("argument %q must be a boolean", p.Name)
		}
		if b {
			return "1", nil
		}
		return "0", nil
	case "integer":
		n, ok := integer(v)
		if !ok {
			return "", fmt.Errorf("argument %q must be an integer", p.Name)
		}
		return n, nil
	case "number":
		switch n := v.(type) {
		case json.Number:
			if _, err := n.Float64(); err == nil {
				return n.String(), nil
			}
		case float64:
			return strconv.FormatFloat(n, 'f', -1, 64), nil
		}
		if n, ok := integer(v); ok {
			return n, nil
		}
		return "", fmt.Errorf("argument %q must be a number", p.Name)
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("argument %q must be a string", p.Name)
	}
	return s, nil
}

// integer formats an integer argument, refusing a fraction.
func integer(v any) (string, bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return strconv.FormatInt(i, 10), true
		}
		if u, err := strconv.ParseUint(n.String(), 10, 64); err == nil {
			return strconv.FormatUint(u, 10), true
		}
	case float64:
		if n == math.Trunc(n) && math.Abs(n) <= 1<<53 {
			return strconv.FormatInt(int64(n), 10), true
		}
	case int:
		return strconv.Itoa(n), true
	case int64:
		return strconv.FormatInt(n, 10), true
	}
	return "", false
}

// errorMessage is the API's {"error"} message of an answer (with its
// code), prefixed by the status.
func errorMessage(status int, data []byte) string {
	var e admin.ErrorAnswer
	msg := ""
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		msg = e.Error
		if e.Code != "" {
			msg += " (" + e.Code + ")"
		}
	} else {
		msg = strings.TrimSpace(string(data))
		if len(msg) > 500 {
			msg = msg[:500] + "..."
		}
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	return fmt.Sprintf("error %d: %s", status, msg)
}

// answerText is the answer as the agent reads it: JSON indented, text as
// it is, server-sent events as the text of their data lines.
func answerText(contentType string, data []byte) string {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt == "text/event-stream" {
		var b strings.Builder
		for _, line := range strings.Split(string(data), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				b.WriteString(d + "\n")
			} else if strings.HasPrefix(line, "[answer cut") {
				b.WriteString(line + "\n")
			}
		}
		data = []byte(b.String())
	}
	if mt == "application/json" || (mt == "" && json.Valid(data)) {
		var buf bytes.Buffer
		if json.Indent(&buf, bytes.TrimSpace(data), "", "  ") == nil {
			return buf.String()
		}
	}
	if len(data) == 0 {
		return "(empty answer)"
	}
	return string(data)
}

// addResources adds the app resources: the list, one app, a deployment's
// log. Each reads through the API like a tool, with the route's visibility.
func (h *handler) addResources(s *server.MCPServer) {
	route := func(id string) (admin.Route, bool) {
		i := slices.IndexFunc(admin.Routes, func(r admin.Route) bool { return r.ID == id })
		if i < 0 {
			return admin.Route{}, false
		}
		return admin.Routes[i], true
	}
	if r, ok := route("apps.list"); ok {
		s.AddResource(mcpgo.NewResource("paas://apps", "apps",
			mcpgo.WithResourceDescription("The apps these credentials see (JSON)"), mcpgo.WithMIMEType("application/json")),
			func(ctx context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
				return h.read(ctx, r, req.Params.URI, nil)
			})
	}
	if r, ok := route("apps.get"); ok {
		s.AddResourceTemplate(mcpgo.NewResourceTemplate("paas://apps/{name}", "app",
			mcpgo.WithTemplateDescription("An app's settings and state (JSON)"), mcpgo.WithTemplateMIMEType("application/json")),
			func(ctx context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
				return h.read(ctx, r, req.Params.URI, req.Params.Arguments)
			})
	}
	if r, ok := route("deploys.logs"); ok {
		s.AddResourceTemplate(mcpgo.NewResourceTemplate("paas://apps/{name}/deploys/{id}/logs", "deployment log",
			mcpgo.WithTemplateDescription("A deployment's build and start log (text)"), mcpgo.WithTemplateMIMEType("text/plain")),
			func(ctx context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
				return h.read(ctx, r, req.Params.URI, req.Params.Arguments)
			})
	}
}

// ErrResource is the error of a resource the API refused or could not
// give.
var ErrResource = errors.New("resource unavailable")

func (h *handler) read(ctx context.Context, r admin.Route, uri string, vars map[string]any) ([]mcpgo.ResourceContents, error) {
	if h.opts.ToolFilter != nil && !h.opts.ToolFilter(ctx, r) {
		return nil, fmt.Errorf("%w: not available to these credentials", ErrResource)
	}
	t := Tool{Name: uri, Route: r, PathParams: PathParams(r.Path)}
	args := map[string]any{}
	for _, p := range t.PathParams {
		v := vars[p]
		if l, ok := v.([]string); ok && len(l) == 1 {
			v = l[0]
		}
		args[p] = v
	}
	path, _, err := t.request(args)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrResource, err)
	}
	status, ctype, data, err := h.do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrResource, err)
	}
	if status >= 400 {
		return nil, fmt.Errorf("%w: %s", ErrResource, errorMessage(status, data))
	}
	mt, _, _ := mime.ParseMediaType(ctype)
	if mt == "" {
		mt = "text/plain"
	}
	return []mcpgo.ResourceContents{mcpgo.TextResourceContents{URI: uri, MIMEType: mt, Text: answerText(ctype, data)}}, nil
}
