package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"time"
)

// OpenAPIVersion is the OpenAPI version of the document.
const OpenAPIVersion = "3.1.0"

var pathParamRE = regexp.MustCompile(`\{([a-z]+)\}`)

// PathParams lists a route path's parameters in order.
func PathParams(path string) []string {
	var out []string
	for _, m := range pathParamRE.FindAllStringSubmatch(path, -1) {
		out = append(out, m[1])
	}
	return out
}

var pathParamHelp = map[string]string{
	"name":   "the app's name",
	"id":     "the id of the deployment, redirect, certificate or token",
	"domain": "a custom domain of the app",
	"key":    "an env variable's key",
	"team":   "the team's name",
	"user":   "the user's id",
}

// OpenAPI builds the OpenAPI 3.1 document of routes, as served under
// serverURL (such as /api/v1). It is generated from the route table, so it
// cannot fall behind the router.
func OpenAPI(routes []Route, serverURL string) map[string]any {
	g := &schemaGen{schemas: map[string]any{}, names: map[reflect.Type]string{}}
	paths := map[string]map[string]any{}
	for _, rt := range routes {
		item := paths[rt.Path]
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		item[strings.ToLower(rt.Method)] = g.operation(rt)
	}
	g.schemas["ErrorAnswer"] = g.schemaOf(reflect.TypeOf(ErrorAnswer{}), false)
	return map[string]any{
		"openapi": OpenAPIVersion,
		"info": map[string]any{
			"title":   "caddy-paas API",
			"version": "1",
			"description": "The caddy-paas API. The same operations are served on Caddy's local admin endpoint under /paas " +
				"(trusted, no authentication) and on the paas_dashboard site under /api/v1 (a session cookie with the " +
				"X-CSRF-Token header on changes, or an API token as a bearer). Errors are {\"error\": \"...\"}.",
		},
		"servers": []any{map[string]any{"url": serverURL}},
		"paths":   paths,
		"components": map[string]any{
			"schemas": g.schemas,
			"securitySchemes": map[string]any{
				"token":   map[string]any{"type": "http", "scheme": "bearer", "description": "An API token (cpaas_...), scoped to one team."},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": "paas_session", "description": "The dashboard's session; changes also need X-CSRF-Token."},
				"csrf":    map[string]any{"type": "apiKey", "in": "header", "name": "X-CSRF-Token", "description": "The session's anti-forgery token, from login or GET /me."},
			},
		},
	}
}

func (g *schemaGen) operation(rt Route) map[string]any {
	op := map[string]any{
		"operationId": rt.ID,
		"summary":     rt.Summary,
		"tags":        []string{strings.SplitN(rt.ID, ".", 2)[0]},
		"x-scope":     scopeName(rt.Scope),
	}
	if rt.Perm != "" {
		op["x-permission"] = string(rt.Perm)
	}
	if rt.Destructive {
		op["x-destructive"] = true
	}
	var params []any
	for _, p := range PathParams(rt.Path) {
		params = append(params, map[string]any{"name": p, "in": "path", "required": true,
			"description": pathParamHelp[p], "schema": map[string]any{"type": "string"}})
	}
	for _, q := range rt.Query {
		params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Description,
			"schema": map[string]any{"type": q.Type}})
	}
	if params != nil {
		op["parameters"] = params
	}
	if rt.Request != nil {
		schema := g.ref(reflect.TypeOf(rt.Request))
		if rt.ID == "deploys.create" {
			// No body, or null, redeploys the app as it is.
			schema = map[string]any{"anyOf": []any{schema, map[string]any{"type": "null"}}}
		}
		content := map[string]any{"application/json": map[string]any{"schema": schema}}
		if rt.ID == "deploys.create" {
			// A source archive, as a body or a multipart form.
			binary := map[string]any{"schema": map[string]any{"type": "string", "contentMediaType": "application/octet-stream"}}
			content["application/zip"] = binary
			content["application/gzip"] = binary
			content["multipart/form-data"] = map[string]any{"schema": map[string]any{
				"type": "object", "properties": map[string]any{"source": map[string]any{"type": "string", "contentMediaType": "application/octet-stream"}},
			}}
		}
		op["requestBody"] = map[string]any{"required": rt.ID != "deploys.create", "content": content}
	}
	ok := map[string]any{"description": rt.Summary}
	switch rt.Response.(type) {
	case nil:
	case TextStream:
		ok["content"] = map[string]any{
			"text/plain":        map[string]any{"schema": map[string]any{"type": "string"}},
			"text/event-stream": map[string]any{"schema": map[string]any{"type": "string"}},
		}
	default:
		ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.ref(reflect.TypeOf(rt.Response))}}
	}
	errAnswer := map[string]any{"description": "An error: {\"error\": \"...\"}", "content": map[string]any{
		"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/ErrorAnswer"}}}}
	op["responses"] = map[string]any{fmt.Sprint(rt.SuccessStatus()): ok, "default": errAnswer}
	if rt.Scope == ScopeAnonymous {
		op["security"] = []any{}
	} else if rt.SessionOnly {
		op["security"] = []any{map[string]any{"session": []string{}, "csrf": []string{}}}
	} else {
		op["security"] = []any{map[string]any{"token": []string{}}, map[string]any{"session": []string{}, "csrf": []string{}}}
	}
	return op
}

func scopeName(s Scope) string {
	switch s {
	case ScopeAnonymous:
		return "anonymous"
	case ScopeUser:
		return "user"
	case ScopePlatform:
		return "platform"
	case ScopeApp:
		return "app"
	case ScopeTeam:
		return "team"
	case ScopeTeamInBody:
		return "team-in-body"
	}
	return "none"
}

// schemaGen turns Go types into JSON Schema (2020-12, as OpenAPI 3.1
// uses), with named structs as components.
type schemaGen struct {
	schemas map[string]any
	names   map[reflect.Type]string
}

var timeType = reflect.TypeOf(time.Time{})

// schemaDescriber is a type that accepts several JSON forms (such as a
// memory size given as bytes or as "512m") and describes them itself.
type schemaDescriber interface{ JSONSchema() map[string]any }

var schemaDescriberType = reflect.TypeOf((*schemaDescriber)(nil)).Elem()

// ref is the schema of t: a $ref for a named struct, else inline.
func (g *schemaGen) ref(t reflect.Type) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct && t.Name() != "" && t != timeType {
		name, ok := g.names[t]
		if !ok {
			name = t.Name()
			for _, other := range g.names {
				if other == name {
					name = strings.ReplaceAll(t.PkgPath()[strings.LastIndex(t.PkgPath(), "/")+1:], "-", "") + "." + t.Name()
				}
			}
			g.names[t] = name
			g.schemas[name] = nil // placeholder against recursion
			g.schemas[name] = g.schemaOf(t, false)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return g.schemaOf(t, false)
}

// elem is the schema of a slice's or map's element: a pointer element may
// be null (an env patch's removed key).
func (g *schemaGen) elem(t reflect.Type) map[string]any {
	if t.Kind() == reflect.Pointer {
		return map[string]any{"anyOf": []any{g.ref(t.Elem()), map[string]any{"type": "null"}}}
	}
	return g.ref(t)
}

// schemaOf is the inline schema of t; nullable adds null to its types (a
// field that encodes as null when empty).
func (g *schemaGen) schemaOf(t reflect.Type, nullable bool) map[string]any {
	typed := func(name string, extra map[string]any) map[string]any {
		out := map[string]any{"type": name}
		if nullable {
			out["type"] = []string{name, "null"}
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	if t == timeType {
		return typed("string", map[string]any{"format": "date-time"})
	}
	if t.Kind() != reflect.Pointer && t.Implements(schemaDescriberType) {
		s := reflect.Zero(t).Interface().(schemaDescriber).JSONSchema()
		if nullable {
			s = map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
		}
		return s
	}
	if t == reflect.TypeOf(json.RawMessage{}) {
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		inner := g.ref(t.Elem())
		if nullable {
			return map[string]any{"anyOf": []any{inner, map[string]any{"type": "null"}}}
		}
		return inner
	case reflect.Bool:
		return typed("boolean", nil)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return typed("integer", nil)
	case reflect.Float32, reflect.Float64:
		return typed("number", nil)
	case reflect.String:
		return typed("string", nil)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return typed("string", map[string]any{"contentEncoding": "base64"})
		}
		return typed("array", map[string]any{"items": g.elem(t.Elem())})
	case reflect.Map:
		return typed("object", map[string]any{"additionalProperties": g.elem(t.Elem())})
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		props := map[string]any{}
		g.fields(t, props)
		return typed("object", map[string]any{"properties": props, "additionalProperties": false})
	}
	return map[string]any{}
}

// fields adds the JSON fields of struct t (embedded structs promoted) to
// props. A field without omitempty whose zero value encodes as null (a nil
// pointer, slice or map) is nullable.
func (g *schemaGen) fields(t reflect.Type, props map[string]any) {
	for _, f := range JSONFields(t) {
		switch ft := f.Field.Type; ft.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map, reflect.Interface:
			props[f.Name] = g.schemaOf(ft, !f.OmitEmpty())
		default:
			props[f.Name] = g.schemaOf(ft, false)
		}
	}
}

// openAPI serves the document, generated once per API.
func (a *API) openAPI(e Engine, w http.ResponseWriter, r *http.Request) error {
	a.openAPIOnce.Do(func() {
		a.openAPIDoc, a.openAPIErr = json.MarshalIndent(OpenAPI(a.routes, a.prefix), "", "  ")
	})
	if a.openAPIErr != nil {
		return a.openAPIErr
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(a.openAPIDoc)
	return err
}
