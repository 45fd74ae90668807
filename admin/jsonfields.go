package admin

import (
	"reflect"
	"strings"
)

// JSONField is one field of a struct as encoding/json sees it.
type JSONField struct {
	// Name is the field's JSON name.
	Name string
	// Opts are the json tag's options after the name ("omitempty,string").
	Opts string
	// Field is the Go field.
	Field reflect.StructField
}

// OmitEmpty reports whether the field has the omitempty option.
func (f JSONField) OmitEmpty() bool { return f.hasOpt("omitempty") }

// AsString reports whether the field has the string option.
func (f JSONField) AsString() bool { return f.hasOpt("string") }

func (f JSONField) hasOpt(opt string) bool {
	return strings.Contains(","+f.Opts+",", ","+opt+",")
}

// JSONFields lists the JSON fields of struct t as encoding/json sees them:
// json tags name them, "-" and unexported fields are skipped, the fields
// of untagged embedded structs are promoted; of two fields with one name,
// the first listed is kept. The OpenAPI document and the MCP tools' input
// schemas both read request types through it.
func JSONFields(t reflect.Type) []JSONField {
	var out []JSONField
	seen := map[string]bool{}
	add := func(f JSONField) {
		if !seen[f.Name] {
			seen[f.Name] = true
			out = append(out, f)
		}
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				for _, sub := range JSONFields(et) {
					add(sub)
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		add(JSONField{Name: name, Opts: opts, Field: f})
	}
	return out
}
