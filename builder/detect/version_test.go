package detect

import "testing"

func TestPickLine(t *testing.T) {
	node := nodeLines
	python := pythonLines
	for _, tc := range []struct {
		spec  string
		lines []string
		want  string // "" for an error
	}{
		// npm
		{"20.x", node, "20"},
		{"20", node, "20"},
		{"v18.19.0", node, "18"},
		{">=18", node, "22"},
		{">=18 <21", node, "20"},
		{">= 18.17.0", node, "22"},
		{"^20.11.0", node, "20"},
		{"~18.19", node, "18"},
		{"18 || 20", node, "20"},
		{">=23", node, "24"},
		{"^21", node, "21"},
		{"18.x || >=22", node, "22"},
		{"16.x", node, ""},
		{"*", node, "22"},
		{"20 - 22", node, "22"},
		{"lts/*", node, ""},
		{">=20 <20", node, ""},
		// PEP 440 and Poetry
		{">=3.10", python, "3.12"},
		{">=3.9,<3.12", python, "3.11"},
		{"~=3.11", python, "3.12"},
		{"~=3.11.2", python, "3.11"},
		{"==3.10.*", python, "3.10"},
		{"^3.10", python, "3.12"},
		{"3.13.0", python, "3.13"},
		{">3.12", python, "3.13"},
		{">3.12.1", python, "3.12"},
		{"<=3.11", python, "3.11"},
		{"!=3.12.0,>=3.11", python, "3.12"},
		{">=3.15", python, ""},
		// Composer, RubyGems, Mix
		{"^7.4|^8.0", phpLines, "8.3"},
		{"~8.1.0", phpLines, "8.1"},
		{">=7.2 <8.2", phpLines, "8.1"},
		{"~> 3.2", rubyLines, "3.3"},
		{"~> 3.2.4", rubyLines, "3.2"},
		{"~> 1.14", elixirLines, "1.17"},
		{"~> 1.15.0", elixirLines, "1.15"},
		// garbage
		{"20\nRUN curl evil", node, ""},
		{"latest", node, ""},
		{"", node, ""},
		{">=", node, ""},
		{"1.2.3.4", node, ""},
	} {
		got, err := pickLine(tc.spec, tc.lines)
		if tc.want == "" {
			if err == nil {
				t.Errorf("pickLine(%q) = %s, want an error", tc.spec, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("pickLine(%q) = %q, %v; want %s", tc.spec, got, err, tc.want)
		}
	}
}
