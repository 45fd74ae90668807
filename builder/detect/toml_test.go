package detect

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestParseTOML(t *testing.T) {
	doc := parseTOML(`
# comment
[project]
name = "inventory" # trailing comment
requires-python = '>=3.12'
dependencies = [
    "fastapi[standard]>=0.115",  # with a # in the comment
    'sqlalchemy',
    "weird \"quoted\" # not a comment",
]

[tool.poetry.dependencies]
python = "^3.11"
"flask" = "^3"

[[bin]]
name = "first"

[[bin]]
name = "second"

[package]
name = "x\nRUN curl evil"
`)
	if v, _ := doc.str("project", "name"); v != "inventory" {
		t.Errorf("project.name = %q", v)
	}
	if v, _ := doc.str("project", "requires-python"); v != ">=3.12" {
		t.Errorf("requires-python = %q", v)
	}
	want := []string{"fastapi[standard]>=0.115", "sqlalchemy", `weird "quoted" # not a comment`}
	if got := doc.list("project", "dependencies"); !reflect.DeepEqual(got, want) {
		t.Errorf("dependencies = %q, want %q", got, want)
	}
	if got := doc.keys("tool.poetry.dependencies"); !reflect.DeepEqual(got, []string{"python", "flask"}) {
		t.Errorf("poetry keys = %q", got)
	}
	if !doc.hasTable("tool.poetry") || doc.hasTable("tool.uv") {
		t.Error("hasTable")
	}
	var bins []string
	for _, e := range doc.entries {
		if e.table == "bin" && e.key == "name" {
			s, _ := tomlString(e.raw)
			bins = append(bins, s)
		}
	}
	if !reflect.DeepEqual(bins, []string{"first", "second"}) {
		t.Errorf("bins = %q", bins)
	}
	// The escape is decoded, so validation sees the newline.
	if v, _ := doc.str("package", "name"); v != "x\nRUN curl evil" || validName(v) {
		t.Errorf("package.name = %q", v)
	}
}

func TestStripJSONC(t *testing.T) {
	in := `{
  // a comment
  "tasks": {
    "start": "deno run main.ts", // trailing
    "url": "http://example.com/*not a comment*/", /* block */
  },
  "list": [1, 2, /* c */],
}`
	var got map[string]any
	if err := json.Unmarshal([]byte(stripJSONC(in)), &got); err != nil {
		t.Fatalf("%v\n%s", err, stripJSONC(in))
	}
	tasks := got["tasks"].(map[string]any)
	if tasks["url"] != "http://example.com/*not a comment*/" || tasks["start"] != "deno run main.ts" {
		t.Errorf("tasks = %v", tasks)
	}
}

func TestParseGoMod(t *testing.T) {
	m := parseGoMod(`module github.com/acme/svc/v3 // the service

go 1.23.2

toolchain go1.24.1

require (
	github.com/mattn/go-sqlite3 v1.14.22 // indirect
)
`)
	if m.module != "github.com/acme/svc/v3" || m.goVersion != "1.23.2" || m.toolchain != "1.24.1" || m.cgo != "github.com/mattn/go-sqlite3" {
		t.Errorf("parseGoMod = %+v", m)
	}
	for v, want := range map[string]int{"1.22": 22, "1.22.3": 22, "1.23rc1": 23, "1.9": 9, "2.0": -1, "1.22 && x": -1, `1.22\`: -1} {
		if got := goLine(v); got != want {
			t.Errorf("goLine(%q) = %d, want %d", v, got, want)
		}
	}
}
