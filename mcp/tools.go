// Package mcp serves the platform's API to AI agents over the Model Context
// Protocol: one tool per operation of admin.Routes, and resources for an
// app's state and its deployment logs. Every tool calls the JSON API (in
// process for /mcp on the dashboard site, over HTTP for `caddy paas mcp`),
// so the API's own authorization decides and audits each call: this
// package never reaches the platform another way.
package mcp

import (
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"time"

	"github.com/caddy-paas/caddy-paas/admin"
)

// ConfirmArg is the argument of a destructive tool that carries the
// confirmation code.
const ConfirmArg = "confirm"

// BodyArg is the one argument of a tool whose request body is not a JSON
// object (a list or a map): its value is the whole body.
const BodyArg = "body"

// Exposed reports whether a route becomes a tool. The rule: a tool is an
// operation an agent's API token can call on both surfaces, so that `caddy
// paas mcp` (the local /paas/) and /mcp (the public /api/v1/) offer the same
// list. That leaves out
//   - ScopeAnonymous routes (login, setup, invitations): an agent is already
//     authenticated by its token;
//   - SessionOnly routes (auth.logout, me.password, tokens.*, users.create,
//     teams.create, env.reveal, secrets.rotate_key...): the API refuses
//     tokens there, so a tool would always fail;
//   - PublicOnly routes (auth.*, me.*, tokens.*): they do not exist on the
//     local endpoint.
func Exposed(r admin.Route) bool {
	return r.Scope != admin.ScopeAnonymous && !r.SessionOnly && !r.PublicOnly
}

// ToolName is the tool of a route id: "apps.list" is "apps_list" (MCP
// clients restrict tool names to letters, digits, '_' and '-').
func ToolName(routeID string) string {
	return strings.ReplaceAll(routeID, ".", "_")
}

// Tool is one operation of the API as an MCP tool: its name, description
// and input schema, and how its arguments map onto the request.
type Tool struct {
	// Name is the tool's name, such as "deploys_create".
	Name string
	// Route is the operation the tool calls.
	Route admin.Route
	// Description is what the agent reads: the summary, the permission
	// needed, the confirmation step of a destructive tool.
	Description string
	// PathParams are the path's parameters, in order: required strings.
	PathParams []string
	// Query are the query parameters.
	Query []admin.Param
	// BodyFields are the top-level JSON fields of the request body.
	BodyFields []string
	// WholeBody is set when the body is not a JSON object: the argument
	// BodyArg is the body.
	WholeBody bool
	// Schema is the JSON schema of the arguments.
	Schema json.RawMessage
}

// Tools builds the tools of admin.Routes.
func Tools() []Tool { return BuildTools(admin.Routes) }

// BuildTools builds the tools of the exposed routes. It panics when a
// route's arguments cannot be told apart (a body field named like a path or
// query parameter, or like ConfirmArg): a table error found at start.
func BuildTools(routes []admin.Route) []Tool {
	var out []Tool
	seen := map[string]string{}
	for _, r := range routes {
		if !Exposed(r) {
			continue
		}
		t := buildTool(r)
		if prev, ok := seen[t.Name]; ok {
			panic(fmt.Sprintf("mcp: routes %s and %s both make the tool %s", prev, r.ID, t.Name))
		}
		seen[t.Name] = r.ID
		out = append(out, t)
	}
	return out
}

// PathParams lists the parameters of a route path ("{name}", "{rest...}"),
// in order.
func PathParams(path string) []string {
	var out []string
	for _, m := range pathParamRe.FindAllStringSubmatch(path, -1) {
		if m[1] == "$" {
			continue
		}
		out = append(out, strings.TrimSuffix(m[1], "..."))
	}
	return out
}

var pathParamRe = regexp.MustCompile(`\{([^}]+)\}`)

func buildTool(r admin.Route) Tool {
	t := Tool{Name: ToolName(r.ID), Route: r, PathParams: PathParams(r.Path), Query: r.Query}
	props := map[string]any{}
	owner := map[string]string{}
	claim := func(name, what string, schema map[string]any) {
		if prev, ok := owner[name]; ok {
			panic(fmt.Sprintf("mcp: route %s: argument %q is both a %s and a %s", r.ID, name, prev, what))
		}
		owner[name] = what
		props[name] = schema
	}
	required := []string{}
	for _, p := range t.PathParams {
		claim(p, "path parameter", map[string]any{"type": "string", "minLength": 1, "description": pathParamDescription(r.Path, p)})
		required = append(required, p)
	}
	for _, q := range r.Query {
		typ := q.Type
		if typ == "" {
			typ = "string"
		}
		claim(q.Name, "query parameter", map[string]any{"type": typ, "description": "Query parameter: " + q.Description})
	}
	if r.Request != nil {
		rt := reflect.TypeOf(r.Request)
		for rt.Kind() == reflect.Pointer {
			rt = rt.Elem()
		}
		if rt.Kind() == reflect.Struct && rt != timeType {
			for _, f := range bodyFields(rt, rt.String(), map[reflect.Type]bool{}) {
				s := f.schema
				s["description"] = "Body field " + f.name + describeField(f.doc)
				claim(f.name, "body field", s)
				t.BodyFields = append(t.BodyFields, f.name)
			}
		} else {
			t.WholeBody = true
			s := typeSchema(rt, map[reflect.Type]bool{}, false)
			s["description"] = "The request body (" + rt.String() + ")"
			claim(BodyArg, "request body", s)
		}
	}
	if r.Destructive {
		claim(ConfirmArg, "confirmation", map[string]any{"type": "string",
			"description": "The confirmation code answered by a first call with the same arguments and no confirm. Leave it out to get one."})
	}
	schema := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		schema["required"] = required
	}
	data, err := json.Marshal(schema)
	if err != nil {
		panic(fmt.Sprintf("mcp: route %s: schema: %v", r.ID, err))
	}
	t.Schema = data
	t.Description = describeRoute(r)
	return t
}

// describeRoute is the tool description: the summary, the HTTP call, the
// permission it needs, and for a destructive tool the confirmation step.
func describeRoute(r admin.Route) string {
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(r.Summary, "."))
	b.WriteString(".\nCalls ")
	b.WriteString(r.Method + " " + r.Path)
	if _, text := r.Response.(admin.TextStream); text {
		b.WriteString("; answers text")
	} else {
		b.WriteString("; answers JSON")
	}
	b.WriteString(".\nNeeds: ")
	b.WriteString(permissionText(r))
	b.WriteString(".")
	if r.Destructive {
		b.WriteString("\nDestructive: a call without \"" + ConfirmArg + "\" changes nothing and answers a short-lived confirmation code; " +
			"call again with the same arguments plus \"" + ConfirmArg + "\": \"<code>\" to proceed. A code works once.")
	}
	return b.String()
}

func permissionText(r admin.Route) string {
	perm := fmt.Sprintf("the %q permission", string(r.Perm))
	switch r.Scope {
	case admin.ScopeUser:
		return "any authenticated caller (answers only what the caller may see)"
	case admin.ScopePlatform:
		return "a platform admin"
	case admin.ScopeApp:
		return perm + " in the app's team"
	case admin.ScopeTeam:
		return perm + " in the team {team}"
	case admin.ScopeTeamInBody:
		return perm + " in the team named by \"team\" (default: the token's team)"
	}
	return "an authorization this tool cannot describe"
}

// pathParamNouns names a path parameter by the path segment before it.
var pathParamNouns = map[string]string{
	"apps":      "the app's name",
	"teams":     "the team's name",
	"users":     "the user's id",
	"members":   "the member's user id",
	"deploys":   "the deployment's id",
	"redirects": "the redirect rule's id",
	"certs":     "the certificate's id",
	"domains":   "the domain",
	"env":       "the env variable's name",
	"tokens":    "the token's id",
}

func pathParamDescription(path, param string) string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	for i, s := range segs {
		if strings.TrimSuffix(strings.Trim(s, "{}"), "...") == param && strings.HasPrefix(s, "{") && i > 0 {
			if noun, ok := pathParamNouns[segs[i-1]]; ok {
				return "Path parameter {" + param + "}: " + noun
			}
		}
	}
	return "Path parameter {" + param + "} of " + path
}

// describeField turns "platform.AppInput.HealthPath" into a readable
// suffix.
func describeField(doc string) string {
	if doc == "" {
		return ""
	}
	return " (" + doc + ")"
}

type fieldSchema struct {
	name   string
	doc    string
	schema map[string]any
}

var (
	timeType     = reflect.TypeOf(time.Time{})
	durationType = reflect.TypeOf(time.Duration(0))
	rawType      = reflect.TypeOf(json.RawMessage(nil))
)

// bodyFields lists the JSON fields of a struct as encoding/json sees them:
// json tags name them, "-" and unexported fields are skipped, embedded
// structs are flattened.
func bodyFields(t reflect.Type, owner string, seen map[reflect.Type]bool) []fieldSchema {
	var out []fieldSchema
	for _, f := range admin.JSONFields(t) {
		s := typeSchema(f.Field.Type, seen, false)
		if f.AsString() {
			s = map[string]any{"type": "string"}
		}
		out = append(out, fieldSchema{name: f.Name, doc: typeLabel(owner) + f.Field.Name, schema: s})
	}
	return out
}

func typeLabel(owner string) string {
	if owner == "" {
		return ""
	}
	return owner + "."
}

// typeSchema is the JSON schema of a Go type as encoding/json reads it. A
// pointer is the pointed type: a field that may be left out. In a map or a
// list, where it cannot be left out, it may be null (an env value of null
// removes the variable).
func typeSchema(t reflect.Type, seen map[reflect.Type]bool, elem bool) map[string]any {
	nullable := false
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
		nullable = elem
	}
	s := baseSchema(t, seen)
	if nullable {
		if typ, ok := s["type"].(string); ok {
			s["type"] = []string{typ, "null"}
		}
	}
	return s
}

var (
	jsonMarshaler = reflect.TypeOf((*json.Marshaler)(nil)).Elem()
	textMarshaler = reflect.TypeOf((*interface{ MarshalText() ([]byte, error) })(nil)).Elem()
)

func baseSchema(t reflect.Type, seen map[reflect.Type]bool) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == durationType:
		return map[string]any{"type": "integer", "description": "nanoseconds"}
	case t == rawType:
		return map[string]any{}
	case t.Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(jsonMarshaler):
		// Its own encoding: anything.
		return map[string]any{}
	case t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler):
		return map[string]any{"type": "string"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "contentEncoding": "base64"}
		}
		return map[string]any{"type": "array", "items": typeSchema(t.Elem(), seen, true)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": typeSchema(t.Elem(), seen, true)}
	case reflect.Struct:
		if seen[t] {
			// A recursive type: its inner levels are described loosely.
			return map[string]any{"type": "object"}
		}
		seen[t] = true
		defer delete(seen, t)
		props := map[string]any{}
		for _, f := range bodyFields(t, "", seen) {
			props[f.name] = f.schema
		}
		// The API refuses unknown fields, at every level.
		return map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	case reflect.Interface:
		return map[string]any{}
	}
	return map[string]any{}
}
