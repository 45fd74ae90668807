package archive

import (
	"errors"
	"strings"
	"testing"
)

func TestCleanName(t *testing.T) {
	tests := []struct {
		name    string
		want    string
		wantErr string
	}{
		{name: "a.txt", want: "a.txt"},
		{name: "dir/", want: "dir"},
		{name: "./a//b/./c", want: "a/b/c"},
		{name: "./", want: "."},
		{name: ".", want: "."},
		{name: `dir\sub\file`, want: "dir/sub/file"},
		{name: "ab:c", want: "ab:c"},
		{name: "a:b", wantErr: "drive letter"},
		{name: "..foo/bar..", want: "..foo/bar.."},
		{name: "...", want: "..."},
		{name: "ünïcødé/文件", want: "ünïcødé/文件"},
		{name: "", wantErr: "empty name"},
		{name: "..", wantErr: `".." component`},
		{name: "../x", wantErr: `".." component`},
		{name: "a/..", wantErr: `".." component`},
		{name: "a/../b", wantErr: `".." component`},
		{name: `..\x`, wantErr: `".." component`},
		{name: `a\..\..\x`, wantErr: `".." component`},
		{name: "./../x", wantErr: `".." component`},
		{name: "/etc/passwd", wantErr: "absolute path"},
		{name: "//host/share", wantErr: "absolute path"},
		{name: `\etc\passwd`, wantErr: "absolute path"},
		{name: `\\host\share`, wantErr: "absolute path"},
		{name: "C:", wantErr: "drive letter"},
		{name: `C:\x`, wantErr: "drive letter"},
		{name: "z:/x", wantErr: "drive letter"},
		{name: "a\x00b", wantErr: "NUL"},
		{name: "a/\x00/../b", wantErr: "NUL"},
		{name: strings.Repeat("x", 256), wantErr: "longer than 255 bytes"},
		{name: strings.Repeat("x/", 513), wantErr: "longer than 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cleanName(tt.name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrRefused) {
					t.Fatalf("cleanName(%q) = %q, %v; want a refusal containing %q", tt.name, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("cleanName(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
			}
		})
	}
}

func TestNamespace(t *testing.T) {
	type step struct {
		name     string
		dir      bool
		wantDirs []string
		wantErr  string
	}
	tests := []struct {
		name  string
		max   int
		steps []step
	}{
		{
			name: "implied directories are created once, parents first",
			max:  100,
			steps: []step{
				{name: "a/b/c.txt", wantDirs: []string{"a", "a/b"}},
				{name: "a/b/d.txt"},
				{name: "a/e/f.txt", wantDirs: []string{"a/e"}},
				{name: "a/b/", dir: true},
				{name: "g/", dir: true, wantDirs: []string{"g"}},
				{name: "./", dir: true},
			},
		},
		{
			name: "conflicts",
			max:  100,
			steps: []step{
				{name: "f"},
				{name: "f/x", wantErr: `its parent "f" is a file`},
				{name: "f", wantErr: "duplicate entry"},
				{name: "f/", dir: true, wantErr: "a directory would replace the file"},
				{name: "d/x", wantDirs: []string{"d"}},
				{name: "d", wantErr: "a file would replace the directory"},
			},
		},
		{
			name: "paths are capped, implied directories included",
			max:  3,
			steps: []step{
				{name: "a/b", wantDirs: []string{"a"}},
				{name: "c/d", wantErr: "more than 3 files and directories"},
				{name: "e"},
				{name: "f", wantErr: "more than 3 files and directories"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := newNamespace(tt.max)
			for _, s := range tt.steps {
				_, dirs, err := ns.add(s.name, s.dir)
				if s.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), s.wantErr) {
						t.Fatalf("add(%q) error %v, want one containing %q", s.name, err, s.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("add(%q): %v", s.name, err)
				}
				if strings.Join(dirs, ",") != strings.Join(s.wantDirs, ",") {
					t.Errorf("add(%q) dirs %q, want %q", s.name, dirs, s.wantDirs)
				}
			}
		})
	}
}
