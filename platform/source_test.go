package platform

import "testing"

func TestGitHost(t *testing.T) {
	for in, want := range map[string]string{
		"https://github.com/me/app.git":          "github.com",
		"ssh://git@git.example:2222/me/app.git":  "git.example:2222",
		"git@github.com:me/app.git":              "github.com",
		"file:///srv/repos/app":                  "",
		"https://user@gitlab.example/group/repo": "gitlab.example",
	} {
		if got := gitHost(in); got != want {
			t.Errorf("gitHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPatchKnownHosts(t *testing.T) {
	h := newHarness(t)
	if _, err := h.e.CreateApp(h.ctx, AppInput{Name: "app"}); err != nil {
		t.Fatal(err)
	}
	line := "[git.example]:22 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample"
	v, err := h.e.UpdateApp(h.ctx, "app", AppPatch{KnownHosts: &line})
	if err != nil || v.KnownHosts != line {
		t.Fatalf("setting known_hosts: %+v %v", v, err)
	}
	empty := ""
	if v, err = h.e.UpdateApp(h.ctx, "app", AppPatch{KnownHosts: &empty}); err != nil || v.KnownHosts != "" {
		t.Fatalf("forgetting known_hosts: %+v %v", v, err)
	}
	bad := "x\x00y"
	if _, err := h.e.UpdateApp(h.ctx, "app", AppPatch{KnownHosts: &bad}); StatusOf(err) != 400 {
		t.Errorf("known_hosts with NUL: %v, want 400", err)
	}
}
