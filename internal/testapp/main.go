// Command testapp is the tiny HTTP server that the tests, the benchmarks and the
// README's tour package into FROM-scratch images. Its behaviour is chosen by
// environment variables so that one binary can play every part a test needs.
//
//	PORT            port to listen on (default 8080)
//	VERSION         text that identifies the deployed version in responses
//	EXIT_AT_START   when set, exit with status 3 at once (a broken release)
//	HEALTH_STATUS   status code that /health answers with (default 200)
//	RELEASE_EXIT    exit code of `app release`, the test release command
//	HEALTHY_AFTER   duration after start before /health answers at all
//	                healthy (503 until then), for slow starts
//
// Routes: / answers "<greeting> <VERSION>", /health answers HEALTH_STATUS,
// /stream writes one line every 100 ms until the client goes away, /env/<KEY>
// answers the value of an environment variable (used to check env injection).
package main

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	// "release" plays a release command (migrations): it says so and exits
	// with RELEASE_EXIT (default 0).
	if len(os.Args) > 1 && os.Args[1] == "release" {
		fmt.Println("release ran for", os.Getenv("VERSION"))
		code, _ := strconv.Atoi(os.Getenv("RELEASE_EXIT"))
		os.Exit(code)
	}
	if os.Getenv("EXIT_AT_START") != "" {
		fmt.Fprintln(os.Stderr, "exiting at start as asked")
		os.Exit(3)
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "hello from"
	}
	health := http.StatusOK
	if s := os.Getenv("HEALTH_STATUS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			health = n
		}
	}
	started := time.Now()
	var healthyAfter time.Duration
	if s := os.Getenv("HEALTHY_AFTER"); s != "" {
		healthyAfter, _ = time.ParseDuration(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", greeting, os.Getenv("VERSION"))
	})
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if time.Since(started) < healthyAfter {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(health)
	})
	mux.HandleFunc("/env/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, os.Getenv(strings.TrimPrefix(r.URL.Path, "/env/")))
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		flusher, _ := w.(http.Flusher)
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "data: %d %s\n\n", i, os.Getenv("VERSION")); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	// One line on stdout, for the tests of app logs.
	fmt.Println("testapp listening on port", port, "version", os.Getenv("VERSION"))
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
