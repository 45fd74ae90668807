package admin

import (
	"reflect"
	"testing"
)

func TestJSONFieldsAsEncodingJSON(t *testing.T) {
	type inner struct {
		Shared string `json:"shared"`
		Deep   int    `json:"deep,omitempty"`
	}
	type outer struct {
		Plain   string
		Named   string `json:"named,omitempty"`
		Skipped string `json:"-"`
		hidden  string
		*inner
		Shared string `json:"shared"` // a second one of the name: the first stays
		Count  int64  `json:"count,string"`
	}
	_ = outer{}.hidden
	var got []string
	for _, f := range JSONFields(reflect.TypeOf(outer{})) {
		got = append(got, f.Name+"/"+f.Field.Name+"/"+map[bool]string{true: "omit", false: "-"}[f.OmitEmpty()]+"/"+map[bool]string{true: "str", false: "-"}[f.AsString()])
	}
	want := []string{"Plain/Plain/-/-", "named/Named/omit/-", "shared/Shared/-/-", "deep/Deep/omit/-", "count/Count/-/str"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JSONFields = %v, want %v", got, want)
	}
}
