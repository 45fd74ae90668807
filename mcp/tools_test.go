package mcp

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/auth"
)

// selectedRoutes is the tool-selection rule written again from the table's
// fields: every route a token can call on both surfaces.
func selectedRoutes() []admin.Route {
	var out []admin.Route
	for _, r := range admin.Routes {
		anonymous := r.Scope == admin.ScopeAnonymous
		tokensRefused := r.SessionOnly
		localMissing := r.PublicOnly
		if anonymous || tokensRefused || localMissing {
			continue
		}
		out = append(out, r)
	}
	return out
}

func TestToolsAreTheSelectedRoutes(t *testing.T) {
	var want []string
	for _, r := range selectedRoutes() {
		want = append(want, strings.ReplaceAll(r.ID, ".", "_"))
	}
	var got []string
	for _, tool := range Tools() {
		got = append(got, tool.Name)
		if ToolName(tool.Route.ID) != tool.Name {
			t.Errorf("tool %s is route %s", tool.Name, tool.Route.ID)
		}
	}
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("tools:\n got %v\nwant %v", got, want)
	}
	if len(got) < 20 {
		t.Fatalf("only %d tools: the selection lost routes", len(got))
	}
	for _, name := range got {
		if strings.HasPrefix(name, "auth_") || strings.HasPrefix(name, "me_") || strings.HasPrefix(name, "tokens_") {
			t.Errorf("tool %s: login, account and token routes are for people", name)
		}
	}
	// A few that an agent needs, by name.
	for _, name := range []string{"apps_list", "apps_create", "apps_delete", "deploys_create", "deploys_logs", "domains_add", "members_add"} {
		if !slices.Contains(got, name) {
			t.Errorf("tool %s is missing", name)
		}
	}
	namePattern := regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	for _, name := range got {
		if !namePattern.MatchString(name) {
			t.Errorf("tool name %q is not a valid MCP tool name", name)
		}
	}
}

// TestToolSchemas compiles each input schema as JSON Schema and checks its
// shape: an object, with the path parameters required, the query
// parameters and body fields, and confirm on destructive tools only.
func TestToolSchemas(t *testing.T) {
	for _, tool := range Tools() {
		t.Run(tool.Name, func(t *testing.T) {
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(tool.Schema))
			if err != nil {
				t.Fatal(err)
			}
			c := jsonschema.NewCompiler()
			if err := c.AddResource("mem://"+tool.Name, doc); err != nil {
				t.Fatal(err)
			}
			sch, err := c.Compile("mem://" + tool.Name)
			if err != nil {
				t.Fatalf("schema does not compile: %v\n%s", err, tool.Schema)
			}
			var s struct {
				Type                 string                     `json:"type"`
				Properties           map[string]json.RawMessage `json:"properties"`
				Required             []string                   `json:"required"`
				AdditionalProperties *bool                      `json:"additionalProperties"`
			}
			if err := json.Unmarshal(tool.Schema, &s); err != nil {
				t.Fatal(err)
			}
			if s.Type != "object" || s.Properties == nil || s.AdditionalProperties == nil || *s.AdditionalProperties {
				t.Fatalf("schema is not a closed object: %s", tool.Schema)
			}
			params := regexp.MustCompile(`\{([a-z_]+)\}`).FindAllStringSubmatch(tool.Route.Path, -1)
			var pathParams []string
			for _, m := range params {
				pathParams = append(pathParams, m[1])
			}
			if !slices.Equal(s.Required, pathParams) {
				t.Errorf("required %v, want the path parameters %v", s.Required, pathParams)
			}
			for _, p := range pathParams {
				var prop struct {
					Type string `json:"type"`
				}
				json.Unmarshal(s.Properties[p], &prop)
				if prop.Type != "string" {
					t.Errorf("path parameter %s is %q, want string", p, prop.Type)
				}
			}
			for _, q := range tool.Route.Query {
				if _, ok := s.Properties[q.Name]; !ok {
					t.Errorf("query parameter %s is missing", q.Name)
				}
			}
			_, hasConfirm := s.Properties[ConfirmArg]
			if hasConfirm != tool.Route.Destructive {
				t.Errorf("confirm argument: %v, destructive: %v", hasConfirm, tool.Route.Destructive)
			}
			if tool.Route.Destructive && !strings.Contains(tool.Description, "confirmation code") {
				t.Errorf("destructive tool's description says nothing of the confirmation: %q", tool.Description)
			}
			if !strings.HasPrefix(tool.Description, strings.TrimSuffix(tool.Route.Summary, ".")) {
				t.Errorf("description %q does not start with the summary", tool.Description)
			}
			if tool.Route.Perm != "" && !strings.Contains(tool.Description, string(tool.Route.Perm)) {
				t.Errorf("description %q does not name the permission %s", tool.Description, tool.Route.Perm)
			}
			// Every property has a description, for the agent.
			for name, raw := range s.Properties {
				var prop struct {
					Description string `json:"description"`
				}
				json.Unmarshal(raw, &prop)
				if prop.Description == "" {
					t.Errorf("property %s has no description", name)
				}
			}
			// A call with the path parameters validates.
			args := map[string]any{}
			for _, p := range pathParams {
				args[p] = "x"
			}
			if err := sch.Validate(args); err != nil {
				t.Errorf("path parameters alone do not validate: %v", err)
			}
			args["no_such_argument"] = 1
			if err := sch.Validate(args); err == nil {
				t.Error("an unknown argument validates")
			}
		})
	}
}

func TestBodyFieldsFollowJSONTags(t *testing.T) {
	tools := map[string]Tool{}
	for _, tool := range Tools() {
		tools[tool.Name] = tool
	}
	props := func(name string) map[string]map[string]any {
		var s struct {
			Properties map[string]map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(tools[name].Schema, &s); err != nil {
			t.Fatal(err)
		}
		return s.Properties
	}
	create := props("apps_create")
	for field, typ := range map[string]any{"name": "string", "image": "string", "port": "integer", "env": "object", "domains": "array", "git": "object", "build": "object"} {
		if create[field] == nil || create[field]["type"] != typ {
			t.Errorf("apps_create.%s = %v, want type %v", field, create[field], typ)
		}
	}
	git, _ := create["git"]["properties"].(map[string]any)
	if _, ok := git["url"]; !ok {
		t.Errorf("apps_create.git has no url: %v", create["git"])
	}
	// env of a patch: a value, or null to remove the key.
	update := props("apps_update")
	env, _ := update["env"]["additionalProperties"].(map[string]any)
	if typ, _ := env["type"].([]any); len(typ) != 2 || typ[0] != "string" || typ[1] != "null" {
		t.Errorf("apps_update.env values: %v", env)
	}
	if d, _ := update["name"]["description"].(string); !strings.HasPrefix(d, "Path parameter") {
		t.Errorf("apps_update.name is not the path's {name}: %v", update["name"])
	}
	if props("deploys_logs")["follow"]["type"] != "boolean" {
		t.Errorf("deploys_logs.follow: %v", props("deploys_logs")["follow"])
	}
	if props("members_update")["role"]["type"] != "string" {
		t.Errorf("members_update.role (auth.Role): %v", props("members_update")["role"])
	}
}

func TestBuildToolsRefusesAmbiguousArguments(t *testing.T) {
	type withName struct {
		Name string `json:"name"`
	}
	type withConfirm struct {
		Confirm string `json:"confirm"`
	}
	base := admin.Route{ID: "x.y", Method: http.MethodPost, Path: "/apps/{name}/x", Scope: admin.ScopeApp, Perm: auth.PermDeploy}
	for name, r := range map[string]admin.Route{
		"body field like a path parameter": func() admin.Route { r := base; r.Request = withName{}; return r }(),
		"query like a path parameter":      func() admin.Route { r := base; r.Query = []admin.Param{{Name: "name", Type: "string"}}; return r }(),
		"body field like confirm":          func() admin.Route { r := base; r.Destructive = true; r.Request = withConfirm{}; return r }(),
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			BuildTools([]admin.Route{r})
		})
	}
}

func TestBuildToolsShapes(t *testing.T) {
	type inner struct {
		Enabled bool `json:"enabled"`
	}
	type Embedded struct {
		Shared string `json:"shared"`
	}
	type thing struct {
		Embedded
		Plain    string `json:"plain"`
		Optional *int   `json:"optional,omitempty"`
		Skipped  string `json:"-"`
		hidden   string
		Nested   inner             `json:"nested"`
		List     []inner           `json:"list"`
		Map      map[string]*int64 `json:"map"`
		Float    float64           `json:"float"`
		Untagged bool
	}
	tools := BuildTools([]admin.Route{
		{ID: "things.make", Method: http.MethodPost, Path: "/teams/{team}/things", Scope: admin.ScopeTeam, Perm: auth.PermManage, Request: thing{}},
		{ID: "env.set", Method: http.MethodPost, Path: "/apps/{name}/env", Scope: admin.ScopeApp, Perm: auth.PermConfigure, Request: map[string]string{}},
		{ID: "hidden.login", Method: http.MethodPost, Path: "/login", Scope: admin.ScopeAnonymous},
		{ID: "hidden.session", Method: http.MethodPost, Path: "/s", Scope: admin.ScopeUser, SessionOnly: true},
	})
	if len(tools) != 2 {
		t.Fatalf("%d tools, want 2", len(tools))
	}
	mk := tools[0]
	if mk.Name != "things_make" || !slices.Equal(mk.PathParams, []string{"team"}) {
		t.Fatalf("tool: %+v", mk)
	}
	wantFields := []string{"shared", "plain", "optional", "nested", "list", "map", "float", "Untagged"}
	if !slices.Equal(mk.BodyFields, wantFields) {
		t.Errorf("body fields %v, want %v", mk.BodyFields, wantFields)
	}
	var s struct {
		Properties map[string]map[string]any `json:"properties"`
	}
	json.Unmarshal(mk.Schema, &s)
	for field, typ := range map[string]string{"shared": "string", "optional": "integer", "nested": "object", "list": "array", "map": "object", "float": "number", "Untagged": "boolean"} {
		if s.Properties[field]["type"] != typ {
			t.Errorf("%s: %v, want %s", field, s.Properties[field], typ)
		}
	}
	set := tools[1]
	if !set.WholeBody || set.BodyFields != nil {
		t.Fatalf("a map body is the %q argument: %+v", BodyArg, set)
	}
	path, body, err := set.request(map[string]any{"name": "blog", BodyArg: map[string]any{"A": "1"}})
	if err != nil || path != "/apps/blog/env" || string(body) != `{"A":"1"}` {
		t.Fatalf("request: %q %s %v", path, body, err)
	}
}

func TestRequestBuilding(t *testing.T) {
	tools := map[string]Tool{}
	for _, tool := range Tools() {
		tools[tool.Name] = tool
	}
	for _, c := range []struct {
		tool     string
		args     map[string]any
		path     string
		body     string
		errMatch string
	}{
		{tool: "apps_list", args: map[string]any{}, path: "/apps"},
		{tool: "apps_get", args: map[string]any{"name": "blog"}, path: "/apps/blog"},
		{tool: "apps_get", args: map[string]any{"name": "a b?c"}, path: "/apps/a%20b%3Fc"},
		{tool: "apps_get", args: map[string]any{}, errMatch: `"name" is required`},
		{tool: "apps_get", args: map[string]any{"name": ""}, errMatch: `"name" is required`},
		{tool: "apps_get", args: map[string]any{"name": 3}, errMatch: `"name" is required`},
		{tool: "apps_get", args: map[string]any{"name": ".."}, errMatch: "not a valid name"},
		{tool: "apps_get", args: map[string]any{"name": "../users"}, errMatch: "not a valid name"},
		{tool: "apps_get", args: map[string]any{"name": "a", "x": 1}, errMatch: `unknown argument "x"`},
		{tool: "deploys_logs", args: map[string]any{"name": "a", "id": "d1", "follow": true}, path: "/apps/a/deploys/d1/logs?follow=1"},
		{tool: "deploys_logs", args: map[string]any{"name": "a", "id": "d1", "follow": "yes"}, errMatch: "must be a boolean"},
		{tool: "audit_team", args: map[string]any{"team": "t", "limit": float64(5)}, path: "/teams/t/audit?limit=5"},
		{tool: "audit_team", args: map[string]any{"team": "t", "limit": 1.5}, errMatch: "must be an integer"},
		{tool: "deploys_create", args: map[string]any{"name": "a", "image": "img:2"}, path: "/apps/a/deploys", body: `{"image":"img:2"}`},
		{tool: "deploys_create", args: map[string]any{"name": "a"}, path: "/apps/a/deploys", body: `{}`},
		{tool: "apps_delete", args: map[string]any{"name": "a"}, path: "/apps/a"},
	} {
		tool, ok := tools[c.tool]
		if !ok {
			t.Fatalf("no tool %s", c.tool)
		}
		path, body, err := tool.request(c.args)
		if c.errMatch != "" {
			if err == nil || !strings.Contains(err.Error(), c.errMatch) {
				t.Errorf("%s %v: error %v, want %q", c.tool, c.args, err, c.errMatch)
			}
			continue
		}
		if err != nil || path != c.path || string(body) != c.body {
			t.Errorf("%s %v: %q %q %v, want %q %q", c.tool, c.args, path, body, err, c.path, c.body)
		}
	}
}
