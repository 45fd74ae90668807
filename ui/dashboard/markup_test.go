package dashboard

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// pagesToCheck renders every page in its fullest form: with apps and
// without, as an owner (every control) and as a platform admin.
func pagesToCheck(t *testing.T) map[string]string {
	t.Helper()
	w := sharedWorld(t)
	fresh := newSite(t)
	out := map[string]string{
		"setup":    fresh.get(nil, "/setup").body,
		"login":    w.get(nil, "/login").body,
		"apps":     w.get(w.alice, "/").body,
		"admin":    w.get(w.root, "/").body,
		"app":      w.get(w.alice, "/apps/blog").body,
		"terminal": w.get(w.alice, "/apps/blog/terminal").body,
		"teams":    w.get(w.alice, "/teams").body,
		"audit":    w.get(w.alice, "/audit").body,
		"audit/*":  w.get(w.root, "/audit").body,
		"account":  w.get(w.alice, "/account").body,
		"404":      w.get(w.alice, "/apps/other").body,
	}
	for name, body := range out {
		if !strings.Contains(body, "</html>") {
			t.Fatalf("page %s did not render:\n%s", name, body)
		}
	}
	return out
}

// walk calls fn on every element of the document.
func walk(n *html.Node, fn func(*html.Node)) {
	if n.Type == html.ElementNode {
		fn(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func text(n *html.Node) string {
	var b strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return strings.TrimSpace(b.String())
}

// TestEveryFieldHasALabel parses each page: every input, select and
// textarea has an id, unique in the page, and a <label for> naming it;
// every button says what it does.
func TestEveryFieldHasALabel(t *testing.T) {
	t.Parallel()
	for name, body := range pagesToCheck(t) {
		doc, err := html.Parse(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		labels := map[string]bool{}
		ids := map[string]int{}
		var fields []*html.Node
		walk(doc, func(n *html.Node) {
			if id, ok := attr(n, "id"); ok {
				ids[id]++
			}
			switch n.Data {
			case "label":
				if f, ok := attr(n, "for"); ok && text(n) != "" {
					labels[f] = true
				}
			case "input", "select", "textarea":
				if typ, _ := attr(n, "type"); typ != "hidden" {
					fields = append(fields, n)
				}
			case "button":
				if text(n) == "" {
					t.Errorf("%s: a button with no text", name)
				}
			}
		})
		for id, n := range ids {
			if n > 1 {
				t.Errorf("%s: id %q used %d times", name, id, n)
			}
		}
		if len(fields) == 0 && name != "404" {
			t.Errorf("%s: no form field at all", name)
		}
		for _, f := range fields {
			id, _ := attr(f, "id")
			if id == "" || !labels[id] {
				fname, _ := attr(f, "name")
				t.Errorf("%s: <%s name=%q id=%q> has no label", name, f.Data, fname, id)
			}
		}
	}
}

// TestNoInlineCode checks what the Content-Security-Policy would block:
// inline scripts, inline styles, event handler attributes,
// javascript: links; and that no scripted form falls back to a GET.
func TestNoInlineCode(t *testing.T) {
	t.Parallel()
	for name, body := range pagesToCheck(t) {
		doc, err := html.Parse(strings.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		scripts := 0
		walk(doc, func(n *html.Node) {
			switch n.Data {
			case "script":
				scripts++
				if src, _ := attr(n, "src"); !strings.HasPrefix(src, "/assets/") || n.FirstChild != nil {
					t.Errorf("%s: an inline script or one from elsewhere", name)
				}
			case "style":
				t.Errorf("%s: a <style> element", name)
			case "form":
				// A form the script sends must not be sent as a GET by
				// the browser before the script runs: its password would
				// end up in the address.
				method, _ := attr(n, "method")
				if _, scripted := attr(n, "data-action"); scripted && method != "post" {
					t.Errorf("%s: a scripted form with method %q", name, method)
				}
			}
			for _, a := range n.Attr {
				k := strings.ToLower(a.Key)
				if k == "style" || strings.HasPrefix(k, "on") {
					t.Errorf("%s: <%s %s=...>", name, n.Data, a.Key)
				}
				if (k == "href" || k == "src" || k == "action") && strings.HasPrefix(strings.ToLower(strings.TrimSpace(a.Val)), "javascript:") {
					t.Errorf("%s: a javascript: address", name)
				}
			}
		})
		// The terminal page adds xterm.js, its fit addon and its own.
		want := 1
		if name == "terminal" {
			want = 4
		}
		if scripts != want {
			t.Errorf("%s: %d scripts, want %d", name, scripts, want)
		}
	}
}
