// Package ui holds what caddy-paas shows in a browser: here, the pages a
// visitor of an app's host sees when the platform answers instead of the
// app (unknown host, app unavailable, maintenance); the dashboard is in
// ui/dashboard.
package ui

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
)

//go:embed status.html
var statusHTML string

var statusPage = template.Must(template.New("status").Parse(statusHTML))

// StatusPage is a page the platform serves in place of an app.
type StatusPage struct {
	Status  int
	Title   string
	Message string
}

// NotFound is the page for a host that belongs to no app.
func NotFound(host string) StatusPage {
	return StatusPage{Status: http.StatusNotFound, Title: "No app here",
		Message: "No app is deployed at " + host + "."}
}

// Unavailable is the page for an app with no healthy replica.
func Unavailable(app string) StatusPage {
	return StatusPage{Status: http.StatusServiceUnavailable, Title: "App unavailable",
		Message: "The app " + app + " has no running replica right now. Try again shortly."}
}

// Maintenance is the page of an app in maintenance mode.
func Maintenance(app, message string) StatusPage {
	if message == "" {
		message = "The app " + app + " is down for maintenance. Please come back soon."
	}
	return StatusPage{Status: http.StatusServiceUnavailable, Title: "Down for maintenance", Message: message}
}

// Write renders the page (values escaped) with its status code. API
// clients asking for JSON get {"error": ...}.
func (p StatusPage) Write(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if p.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "5")
	}
	var buf bytes.Buffer
	if accepts(r, "application/json") {
		h.Set("Content-Type", "application/json")
		body, err := json.Marshal(map[string]string{"error": p.Message})
		if err != nil {
			return err
		}
		buf.Write(append(body, '\n'))
	} else {
		h.Set("Content-Type", "text/html; charset=utf-8")
		if err := statusPage.Execute(&buf, p); err != nil {
			return err
		}
	}
	w.WriteHeader(p.Status)
	_, err := w.Write(buf.Bytes())
	return err
}

func accepts(r *http.Request, mime string) bool {
	for _, v := range r.Header.Values("Accept") {
		if bytes.Contains([]byte(v), []byte(mime)) {
			return true
		}
	}
	return false
}
