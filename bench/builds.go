package main

import (
	"compress/gzip"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/caddy-paas/caddy-paas/admin"
	"github.com/caddy-paas/caddy-paas/builder"
	"github.com/caddy-paas/caddy-paas/platform"
)

// Names of the build rows, also printed when the rows are skipped.
const (
	rowGitCold   = "Git push to live, small Go app, cold (new app: empty git cache, no Docker layer of it)"
	rowGitWarm   = "Git push to live, small Go app, warm (redeploy after a one-line change in main.go)"
	rowUpload    = "Upload of a 50 MB source tree (tar.gz), until the API accepts it"
	rowUploadAll = "Upload of a 50 MB source tree, to live"
)

// deployTimes is one deploy through caddy-paas, timed from its request.
type deployTimes struct {
	// total is until the proxy first answered with the new version.
	total time.Duration
	// accepted is until the API answered (an upload: once extracted).
	accepted time.Duration
	// fetched and built are when the deploy's log said the source was
	// checked out (or the upload taken) and the image built: 0 when the
	// line was not seen.
	fetched, built time.Duration
}

// handTimes is the same work done by hand: fetch (git clone or pull; an
// upload: HTTP copy + tar xzf) and docker build.
type handTimes struct {
	fetch, build time.Duration
	// copy is the HTTP copy alone, part of fetch (uploads only).
	copy time.Duration
}

func (h handTimes) total() time.Duration { return h.fetch + h.build }

// buildsPhase times deploys from source through a caddy-paas in this
// process on the machine's Docker engine, next to the same steps done by
// hand in the same run. Without a Docker engine the rows say so.
func (b *bench) buildsPhase(ctx context.Context) error {
	rows := []string{rowGitCold, rowGitWarm, rowUpload, rowUploadAll}
	skip := func(rows []string, why string) {
		for _, m := range rows {
			b.rep.add(row{measure: m, paas: "skipped: " + why})
		}
	}
	version, err := dockerEngine(ctx)
	if err != nil {
		b.progress("builds: no Docker engine: " + err.Error())
		skip(rows, "no Docker engine (run scripts/docker-up.sh)")
		return nil
	}
	gitCLI, _ := exec.LookPath("git")
	if gitCLI == "" {
		skip(rows[:2], "no git CLI for the baseline (Debian package git)")
		rows = rows[2:]
	}

	e := &buildEnv{b: b, dir: filepath.Join(b.tmp, "builds"), run: randomHex(3), apps: map[string]bool{}, images: map[string]bool{}}
	if err := os.MkdirAll(e.dir, 0o700); err != nil {
		return err
	}
	if err := e.start(); err != nil {
		return err
	}
	defer func() { _ = caddy.Stop() }()
	defer e.cleanup()
	b.rep.note("Builds: Docker engine %s, legacy builder (what caddy-paas uses) on both sides; caddy-paas in this process with its admin API on a unix socket; "+
		"times run from the deploy request until the proxy first answers with the new version (polled every 20 ms); "+
		"step times come from when each step's line appeared in the deployment's log, read every 20 ms from its file; apps, containers and images made are removed at the end.", version)

	if len(rows) == 4 {
		b.progress("builds: the Go build image " + goBuildImage)
		start := time.Now()
		id, made, err := ensureGoBuildImage(ctx)
		switch {
		case err != nil:
			b.progress("builds: " + err.Error())
			skip(rows[:2], "cannot make the Go build image: "+err.Error())
			rows = rows[2:]
		case made:
			e.baseImage = id
			b.rep.note("Made %s with docker import of this machine's Go in %s (no image can be pulled); it is kept for the next run and the integration tests.", goBuildImage, fmtDur(time.Since(start)))
		default:
			e.baseImage = id
		}
	}
	if len(rows) == 4 {
		if err := e.gitRows(ctx, gitCLI); err != nil {
			return err
		}
	}
	return e.uploadRows(ctx)
}

// start loads a caddy-paas into this process: the paas app on the real
// Docker engine, allowed to fetch file:// repositories, a paas_apps server
// on loopback and the admin API on a unix socket.
func (e *buildEnv) start() error {
	listen, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	sock := filepath.Join(e.dir, "admin.sock")
	paas := paasAppConfig(e.dir)
	delete(paas, "docker_host")
	paas["git"] = object{"allow_file": true}
	cfg := caddyConfig(e.dir, object{
		"paas": paas,
		"http": object{"servers": object{"paas": httpServer(listen, paasRoutes())}},
	})
	cfg["admin"] = object{"listen": "unix/" + sock, "config": object{"persist": false}}
	if err := loadConfig(cfg); err != nil {
		return err
	}
	dialSock := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}
	e.api = &admin.Client{BaseURL: "http://127.0.0.1", Prefix: "/paas",
		HTTP: &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DialContext: dialSock}}}
	e.proxy = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", listen)
		},
	}}
	return nil
}

// deploy times one deploy: send starts it and returns its id, then the
// deploy is followed until the proxy answers want.
func (e *buildEnv) deploy(ctx context.Context, app, want string, send func() (string, error)) (deployTimes, string, error) {
	var t deployTimes
	t0 := time.Now()
	id, err := send()
	if err != nil {
		return t, "", err
	}
	t.accepted = time.Since(t0)
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	lt := e.watchLog(wctx, app, id, t0)
	at, err := e.waitServing(ctx, app, id, want, 5*time.Minute)
	if err != nil {
		return t, id, err
	}
	t.total = at.Sub(t0)
	// The last line may not have been read yet.
	for i := 0; i < 100; i++ {
		if _, ok := lt.get("live"); ok {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.fetched, _ = lt.get("fetched")
	t.built, _ = lt.get("built")
	log := e.deployLog(ctx, app, id)
	e.noteBuildImages(log)
	return t, id, nil
}

// gitRows times git deploys of a small Go app, cold and warm, against git
// clone (pull) + docker build of the same source with the generated
// Dockerfile. Each round is a new app from a new repository (cold), then a
// redeploy after a one-line change (warm); caddy-paas and the baseline
// have repositories of their own, with different module paths, so that
// neither finds Docker layers of the other's; they take turns in A B, B A
// order.
func (e *buildEnv) gitRows(ctx context.Context, gitCLI string) error {
	rounds := e.b.o.buildRounds
	var cold, warm []deployTimes
	var coldHand, warmHand []handTimes
	var coldRatio, warmRatio []float64
	dockerfile := ""
	for r := 1; r <= rounds; r++ {
		app := e.newAppName("go", r)
		base := filepath.Join(e.dir, fmt.Sprintf("round%d", r))
		pv := func(n int) string { return fmt.Sprintf("%s v%d", app, n) }
		hv := func(n int) string { return fmt.Sprintf("by hand %s-%d v%d", e.run, r, n) }
		prepo, err := newGoRepo(filepath.Join(base, "paas-repo"), fmt.Sprintf("bench.test/%s/paas%d", e.run, r), pv(1))
		if err != nil {
			return err
		}
		hrepo, err := newGoRepo(filepath.Join(base, "hand-repo"), fmt.Sprintf("bench.test/%s/hand%d", e.run, r), hv(1))
		if err != nil {
			return err
		}
		clone := filepath.Join(base, "hand-clone")
		handTag := fmt.Sprintf("paas-bench/%s-go%d", e.run, r)

		paasCold := func() error {
			e.b.progress(fmt.Sprintf("builds: round %d/%d, caddy-paas, cold git deploy of %s", r, rounds, app))
			t, id, err := e.deploy(ctx, app, pv(1)+"\n", func() (string, error) {
				var v platform.AppView
				err := e.api.Do(ctx, http.MethodPost, "/apps", object{"name": app, "git": object{"url": prepo.url(), "ref": "main"}}, &v)
				if err == nil && v.Deployment == "" {
					err = fmt.Errorf("creating %s from git started no deployment", app)
				}
				return v.Deployment, err
			})
			if err != nil {
				return err
			}
			if dockerfile == "" {
				if dockerfile, err = generatedDockerfile(e.deployLog(ctx, app, id)); err != nil {
					return err
				}
			}
			cold = append(cold, t)
			return nil
		}
		handCold := func() error {
			e.b.progress(fmt.Sprintf("builds: round %d/%d, by hand, git clone + docker build", r, rounds))
			var h handTimes
			t0 := time.Now()
			if out, err := exec.CommandContext(ctx, gitCLI, "clone", "-q", "--branch", "main", hrepo.url(), clone).CombinedOutput(); err != nil {
				return fmt.Errorf("git clone: %w: %s", err, out)
			}
			if err := writeBuildFiles(clone, dockerfile); err != nil {
				return err
			}
			h.fetch = time.Since(t0)
			t1 := time.Now()
			e.noteImage(handTag + ":1")
			out, err := dockerBuild(ctx, "--build-arg", "GO_VERSION=1.26", "-f", filepath.Join(clone, builder.GeneratedDockerfile), "-t", handTag+":1", clone)
			e.noteBuildImages(out)
			if err != nil {
				return err
			}
			h.build = time.Since(t1)
			coldHand = append(coldHand, h)
			return nil
		}
		paasWarm := func() error {
			e.b.progress(fmt.Sprintf("builds: round %d/%d, caddy-paas, warm git deploy of %s", r, rounds, app))
			t, _, err := e.deploy(ctx, app, pv(2)+"\n", func() (string, error) {
				var d platform.Deployment
				err := e.api.Do(ctx, http.MethodPost, "/apps/"+app+"/deploys", object{"git": object{"ref": "main"}}, &d)
				return d.ID, err
			})
			if err != nil {
				return err
			}
			warm = append(warm, t)
			return nil
		}
		handWarm := func() error {
			e.b.progress(fmt.Sprintf("builds: round %d/%d, by hand, git pull + docker build", r, rounds))
			var h handTimes
			t0 := time.Now()
			if out, err := exec.CommandContext(ctx, gitCLI, "-C", clone, "pull", "-q", "--ff-only").CombinedOutput(); err != nil {
				return fmt.Errorf("git pull: %w: %s", err, out)
			}
			h.fetch = time.Since(t0)
			t1 := time.Now()
			e.noteImage(handTag + ":2")
			out, err := dockerBuild(ctx, "--build-arg", "GO_VERSION=1.26", "-f", filepath.Join(clone, builder.GeneratedDockerfile), "-t", handTag+":2", clone)
			e.noteBuildImages(out)
			if err != nil {
				return err
			}
			h.build = time.Since(t1)
			warmHand = append(warmHand, h)
			return nil
		}
		// The first round goes caddy-paas first: the baseline builds the
		// Dockerfile that caddy-paas generated.
		steps := []func() error{paasCold, handCold}
		if r%2 == 0 {
			steps = []func() error{handCold, paasCold}
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		coldRatio = append(coldRatio, float64(cold[len(cold)-1].total)/float64(coldHand[len(coldHand)-1].total()))
		if err := prepo.commitVersion(pv(2)); err != nil {
			return err
		}
		if err := hrepo.commitVersion(hv(2)); err != nil {
			return err
		}
		steps = []func() error{paasWarm, handWarm}
		if r%2 == 0 {
			steps = []func() error{handWarm, paasWarm}
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return err
			}
		}
		warmRatio = append(warmRatio, float64(warm[len(warm)-1].total)/float64(warmHand[len(warmHand)-1].total()))
		if err := e.removeApp(ctx, app); err != nil {
			return err
		}
		e.removeImages(ctx)
		_ = os.RemoveAll(base)
	}

	e.b.rep.add(row{
		measure:  rowGitCold,
		paas:     describeDeploys(cold, "checkout"),
		baseline: "git clone + docker build of the same source and generated Dockerfile (no layer of it cached either): " + describeHand(coldHand, "clone"),
		result:   fmt.Sprintf("%.2f× (median of %d rounds' ratios); %s", median(coldRatio), rounds, outsideBuild(cold, coldHand)),
		target:   "none (reference); lower is better, 1.00 = no overhead",
	})
	e.b.rep.add(row{
		measure:  rowGitWarm,
		paas:     describeDeploys(warm, "checkout"),
		baseline: "git pull + docker build with its layer cache: " + describeHand(warmHand, "pull"),
		result:   fmt.Sprintf("%.2f× (median of %d rounds' ratios); %s", median(warmRatio), rounds, outsideBuild(warm, warmHand)),
		target:   "none (reference); lower is better, 1.00 = no overhead",
	})
	e.b.rep.note("Git rows: the app is a %d-line Go HTTP server (package net only) with go.mod and paas.json and no Dockerfile; caddy-paas detects Go and generates a two-stage Dockerfile "+
		"(go mod download, go build, FROM scratch); warm: its first stage's layers up to go mod download come from the cache, go build compiles everything again (no Go build cache survives an image build).",
		strings.Count(goMain, "\n"))
	return nil
}

// writeBuildFiles puts caddy-paas's generated Dockerfile and a
// .dockerignore into a clone, as caddy-paas adds them to the build context.
func writeBuildFiles(dir, dockerfile string) error {
	if err := os.WriteFile(filepath.Join(dir, builder.GeneratedDockerfile), []byte(dockerfile), 0o644); err != nil {
		return err
	}
	ignore := ".git\n" + builder.GeneratedDockerfile + "\n.dockerignore\n"
	return os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte(ignore), 0o644)
}

// uploadRows times uploads of a 50 MB source tree (a Dockerfile FROM
// scratch that copies the tree: a static binary and 50 MB of random data)
// packed as the CLI packs it, against copying the same archive over
// loopback HTTP to a plain handler plus tar xzf (plus docker build, for
// the time to live).
func (e *buildEnv) uploadRows(ctx context.Context) error {
	rounds := e.b.o.buildRounds
	tree := filepath.Join(e.dir, "upload-tree")
	e.b.progress("builds: making a 50 MB source tree")
	if err := os.MkdirAll(filepath.Join(tree, "assets"), 0o755); err != nil {
		return err
	}
	if err := buildStatic(ctx, filepath.Join(tree, "app"), "./internal/testapp"); err != nil {
		return err
	}
	chunk := make([]byte, 1<<20)
	for i := 1; i <= 50; i++ {
		_, _ = rand.Read(chunk)
		if err := os.WriteFile(filepath.Join(tree, "assets", fmt.Sprintf("blob%02d.bin", i)), chunk, 0o644); err != nil {
			return err
		}
	}
	sinkFile := filepath.Join(e.dir, "sink.tar.gz")
	sink, err := startUploadSink(sinkFile)
	if err != nil {
		return err
	}
	defer sink.close()

	var paas []deployTimes
	var hand []handTimes
	var upRatio, liveRatio []float64
	var treeBytes, archiveBytes int64
	for r := 1; r <= rounds; r++ {
		app := e.newAppName("up", r)
		version := fmt.Sprintf("%s-%d", e.run, r)
		dockerfile := "FROM scratch\nENV VERSION=" + version + "\nCOPY . /app/\nEXPOSE 8080\nENTRYPOINT [\"/app/app\"]\n"
		if err := os.WriteFile(filepath.Join(tree, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
			return err
		}
		archive := filepath.Join(e.dir, "upload.tar.gz")
		if treeBytes, archiveBytes, err = packTree(tree, archive); err != nil {
			return err
		}
		if err := e.api.Do(ctx, http.MethodPost, "/apps", object{"name": app}, nil); err != nil {
			return fmt.Errorf("creating app %s: %w", app, err)
		}

		// caddy-paas goes first: the baseline's docker build is --no-cache,
		// and the archive is the same.
		e.b.progress(fmt.Sprintf("builds: round %d/%d, caddy-paas, upload of %s", r, rounds, fmtMB(uint64(archiveBytes))))
		t, _, err := e.deploy(ctx, app, "hello from "+version+"\n", func() (string, error) {
			f, err := os.Open(archive)
			if err != nil {
				return "", err
			}
			defer f.Close()
			var d platform.Deployment
			err = e.api.Upload(ctx, "/apps/"+app+"/deploys", "application/gzip", f, archiveBytes, &d)
			return d.ID, err
		})
		if err != nil {
			return err
		}
		paas = append(paas, t)

		e.b.progress(fmt.Sprintf("builds: round %d/%d, by hand, HTTP copy + tar xzf + docker build --no-cache", r, rounds))
		h, err := e.uploadByHand(ctx, sink, archive, archiveBytes, filepath.Join(e.dir, "hand-upload"), fmt.Sprintf("paas-bench/%s-up%d:1", e.run, r))
		if err != nil {
			return err
		}
		hand = append(hand, h)
		upRatio = append(upRatio, float64(t.accepted)/float64(h.fetch))
		liveRatio = append(liveRatio, float64(t.total)/float64(h.total()))
		if err := e.removeApp(ctx, app); err != nil {
			return err
		}
		e.removeImages(ctx)
	}

	accepted := make([]time.Duration, len(paas))
	for i, t := range paas {
		accepted[i] = t.accepted
	}
	var copies, copyOnly, extract []time.Duration
	for _, h := range hand {
		copies = append(copies, h.fetch)
		copyOnly = append(copyOnly, h.copy)
		extract = append(extract, h.fetch-h.copy)
	}
	e.b.rep.add(row{
		measure: rowUpload,
		paas:    fmt.Sprintf("%s (%s); %s archive, %s of files", durSpread(accepted), durRange(accepted), fmtMB(uint64(archiveBytes)), fmtMB(uint64(treeBytes))),
		baseline: fmt.Sprintf("HTTP copy of the same archive to a plain Go handler that writes it to disk + tar xzf: %s (%s); copy %s, tar xzf %s (medians)",
			durSpread(copies), durRange(copies), durSpread(copyOnly), durSpread(extract)),
		result: fmt.Sprintf("%.2f× (median of %d rounds' ratios)", median(upRatio), rounds),
		target: "none (reference); lower is better",
	})
	e.b.rep.add(row{
		measure:  rowUploadAll,
		paas:     describeDeploys(paas, "upload+extract"),
		baseline: "the same + docker build --no-cache of the extracted tree: " + describeHand(hand, "copy+extract"),
		result:   fmt.Sprintf("%.2f× (median of %d rounds' ratios); %s", median(liveRatio), rounds, outsideBuild(paas, hand)),
		target:   "none (reference); lower is better",
	})
	return nil
}

// uploadByHand copies the archive to the sink over loopback HTTP, extracts
// it with tar and builds it with docker build.
func (e *buildEnv) uploadByHand(ctx context.Context, sink *uploadSink, archive string, size int64, dir, tag string) (handTimes, error) {
	var h handTimes
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return h, err
	}
	defer os.RemoveAll(dir)
	f, err := os.Open(archive)
	if err != nil {
		return h, err
	}
	defer f.Close()
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sink.url(), f)
	if err != nil {
		return h, err
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/gzip")
	client := &http.Client{Transport: &http.Transport{}}
	resp, err := client.Do(req)
	if err != nil {
		return h, fmt.Errorf("upload baseline: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return h, fmt.Errorf("upload baseline: status %d", resp.StatusCode)
	}
	h.copy = time.Since(t0)
	if out, err := exec.CommandContext(ctx, "tar", "xzf", sink.path, "-C", dir).CombinedOutput(); err != nil {
		return h, fmt.Errorf("tar xzf: %w: %s", err, out)
	}
	h.fetch = time.Since(t0)
	t1 := time.Now()
	e.noteImage(tag)
	out, err := dockerBuild(ctx, "--no-cache", "-t", tag, dir)
	e.noteBuildImages(out)
	if err != nil {
		return h, err
	}
	h.build = time.Since(t1)
	return h, nil
}

// packTree packs a source tree as `caddy paas deploy --dir` does
// (builder.TarUpload) as a gzip-compressed tar. It returns the
// size of the files and of the archive.
func packTree(dir, archive string) (files, size int64, err error) {
	f, err := os.Create(archive)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	gz := gzip.NewWriter(f)
	cw := &countWriter{w: gz}
	if _, err := builder.TarUpload(dir, cw); err != nil {
		return 0, 0, fmt.Errorf("packing %s: %w", dir, err)
	}
	if err := gz.Close(); err != nil {
		return 0, 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	return cw.n, st.Size(), f.Close()
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// buildStatic builds a static linux binary of pkg from the module root.
func buildStatic(ctx context.Context, bin, pkg string) error {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("finding the module root: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("run the bench from inside the caddy-paas module")
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = filepath.Dir(gomod)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %w: %s", pkg, err, truncate(string(out), 800))
	}
	return nil
}

// describeDeploys is a deploy cell: the median time to live with its
// range, and the median of each step.
func describeDeploys(ts []deployTimes, first string) string {
	var total, fetch, build, start []time.Duration
	for _, t := range ts {
		total = append(total, t.total)
		if t.fetched > 0 && t.built > t.fetched {
			fetch = append(fetch, t.fetched)
			build = append(build, t.built-t.fetched)
			start = append(start, t.total-t.built)
		}
	}
	s := fmt.Sprintf("%s (%s)", durSpread(total), durRange(total))
	if len(fetch) > 0 {
		s += fmt.Sprintf("; request to %s done %s, image build %s, then start, health check and route to the first answer %s (medians)",
			first, durSpread(fetch), durSpread(build), durSpread(start))
	}
	return s
}

// outsideBuild compares the time each side spends outside the image build,
// which is the same work on both sides and the noisiest part: caddy-paas's
// fetch (or upload), start, health check and route, against the fetch by
// hand.
func outsideBuild(ts []deployTimes, hs []handTimes) string {
	var paas, hand []time.Duration
	for _, t := range ts {
		if t.fetched > 0 && t.built > t.fetched {
			paas = append(paas, t.total-(t.built-t.fetched))
		}
	}
	for _, h := range hs {
		hand = append(hand, h.fetch)
	}
	if len(paas) == 0 {
		return "no step times"
	}
	return fmt.Sprintf("outside the image build: %s, by hand %s (medians)", durSpread(paas), durSpread(hand))
}

// describeHand is a baseline cell.
func describeHand(hs []handTimes, fetch string) string {
	var total, f, b []time.Duration
	for _, h := range hs {
		total = append(total, h.total())
		f = append(f, h.fetch)
		b = append(b, h.build)
	}
	return fmt.Sprintf("%s (%s); %s %s, docker build %s (medians)", durSpread(total), durRange(total), fetch, durSpread(f), durSpread(b))
}

// durSpread is the median of durations, formatted.
func durSpread(ds []time.Duration) string {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return fmtDur(time.Duration(median(xs)))
}

// durRange is the min-max of durations, formatted.
func durRange(ds []time.Duration) string {
	if len(ds) == 0 {
		return ""
	}
	lo, hi := ds[0], ds[0]
	for _, d := range ds {
		lo, hi = min(lo, d), max(hi, d)
	}
	return fmtDur(lo) + "-" + fmtDur(hi)
}
