package detect

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// defaultPythonVersion is the python image line used when the repository
// does not ask for one; pythonLines are the lines a constraint may pick, in
// order of preference.
const defaultPythonVersion = "3.12"

var pythonLines = []string{"3.12", "3.13", "3.11", "3.10", "3.9", "3.14"}

var (
	pyReqNameRe      = lazyRE(`^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[([A-Za-z0-9_,.\s-]*)\])?`)
	djangoSettingsRe = lazyRE(`DJANGO_SETTINGS_MODULE['"]\s*,\s*['"]([A-Za-z_][A-Za-z0-9_.]*)\.settings`)
	flaskAppRe       = lazyRE(`(?m)^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*Flask\(`)
	flaskFactoryRe   = lazyRE(`(?m)^def (create_app)\(`)
	fastAPIAppRe     = lazyRE(`(?m)^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*FastAPI\(`)
	// pyModuleRe is a dotted module path, written into start commands.
	pyModuleRe = lazyRE(`^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$`)
)

// pythonRuntimeLibs are the shared libraries a source-built package links
// against, which the slim runtime image lacks.
var pythonRuntimeLibs = map[string]string{"psycopg2": "libpq5", "mysqlclient": "libmariadb3"}

// pyProject is what detection reads of a Python project's manifests.
type pyProject struct {
	manager      string          // pip, poetry or uv
	manifests    []string        // the files the install needs
	deps         map[string]bool // normalised names of direct dependencies
	requires     string          // requires-python or Poetry's python constraint
	requiresFrom string
	needsTree    bool // requirements.txt refers to local files
	noInstall    bool // no manifest: nothing to install
}

// normPy normalises a distribution name as PEP 503 does.
func normPy(s string) string {
	return strings.NewReplacer("_", "-", ".", "-").Replace(strings.ToLower(s))
}

func (py *pyProject) addReq(req string) {
	m := pyReqNameRe.FindStringSubmatch(strings.TrimSpace(req))
	if m == nil {
		return
	}
	name := normPy(m[1])
	py.deps[name] = true
	// fastapi[standard] and uvicorn[standard] bring their server.
	if name == "fastapi" && (strings.Contains(m[3], "standard") || strings.Contains(m[3], "all")) {
		py.deps["uvicorn"] = true
	}
}

// readPython reads requirements.txt, pyproject.toml and the lockfiles, and
// chooses the installer: uv with uv.lock, Poetry with poetry.lock, pip with
// requirements.txt, then by pyproject.toml alone (Poetry when it has a
// [tool.poetry] table, else uv).
func (pl *planner) readPython() (*pyProject, error) {
	py := &pyProject{deps: map[string]bool{}}
	reqs, hasReqs, err := pl.src.read("requirements.txt")
	if err != nil {
		return nil, err
	}
	if hasReqs {
		for _, line := range strings.Split(reqs, "\n") {
			line = strings.TrimSpace(line)
			if i := strings.Index(line, " #"); i >= 0 {
				line = strings.TrimSpace(line[:i])
			}
			switch {
			case line == "" || strings.HasPrefix(line, "#"):
			case strings.HasPrefix(line, "-r") || strings.HasPrefix(line, "-c") || strings.HasPrefix(line, "-e") ||
				strings.HasPrefix(line, "--requirement") || strings.HasPrefix(line, "--constraint") || strings.HasPrefix(line, "--editable") ||
				strings.HasPrefix(line, ".") || strings.HasPrefix(line, "/"):
				py.needsTree = true
			case strings.HasPrefix(line, "-"):
			default:
				py.addReq(line)
			}
		}
	}
	text, hasPyproject, err := pl.src.read("pyproject.toml")
	if err != nil {
		return nil, err
	}
	doc := parseTOML(text)
	poetry := doc.hasTable("tool.poetry")
	if hasPyproject {
		for _, d := range doc.list("project", "dependencies") {
			py.addReq(d)
		}
		for _, k := range doc.keys("tool.poetry.dependencies") {
			if k != "python" {
				py.addReq(k)
			}
		}
		if v, ok := doc.str("project", "requires-python"); ok {
			py.requires, py.requiresFrom = v, "pyproject.toml requires-python"
		} else if v, ok := doc.str("tool.poetry.dependencies", "python"); ok {
			py.requires, py.requiresFrom = v, "pyproject.toml tool.poetry.dependencies.python"
		}
	}

	versionFile := pl.src.existing(".python-version")
	switch {
	case pl.src.isFile("uv.lock") && hasPyproject:
		py.manager = "uv"
		py.manifests = append([]string{"pyproject.toml", "uv.lock"}, versionFile...)
		pl.reason("found uv.lock: installing with uv")
	case pl.src.isFile("poetry.lock") && hasPyproject:
		py.manager = "poetry"
		py.manifests = []string{"pyproject.toml", "poetry.lock"}
		pl.reason("found poetry.lock: installing with Poetry")
	case hasReqs:
		py.manager = "pip"
		py.manifests = []string{"requirements.txt"}
		pl.reason("found requirements.txt: installing with pip")
	case hasPyproject && poetry:
		py.manager = "poetry"
		py.manifests = []string{"pyproject.toml"}
		pl.reason("found pyproject.toml with [tool.poetry] and no lockfile: installing with Poetry, resolving at build time")
	case hasPyproject && doc.hasTable("project"):
		py.manager = "uv"
		py.manifests = append([]string{"pyproject.toml"}, versionFile...)
		pl.reason("found pyproject.toml with no lockfile: installing with uv, resolving at build time (commit uv.lock for reproducible builds)")
	default:
		py.manager = "pip"
		py.noInstall = true
		pl.reason("no requirements.txt or pyproject.toml dependencies: nothing to install")
	}
	return py, nil
}

// pythonVersion picks the python image line from .python-version,
// runtime.txt or requires-python.
func (pl *planner) pythonVersion(py *pyProject) string {
	if v, ok := pl.src.firstLine(".python-version"); ok {
		return pl.versionLine("Python", ".python-version", v, pythonLines, defaultPythonVersion)
	}
	if v, ok := pl.src.firstLine("runtime.txt"); ok {
		return pl.versionLine("Python", "runtime.txt", strings.TrimPrefix(v, "python-"), pythonLines, defaultPythonVersion)
	}
	if py.requires != "" {
		return pl.versionLine("Python", py.requiresFrom, py.requires, pythonLines, defaultPythonVersion)
	}
	pl.reason("no Python version in .python-version, runtime.txt or pyproject.toml: using Python %s", defaultPythonVersion)
	return defaultPythonVersion
}

// pyAppSpec finds "module:variable" for the app object that re matches in
// the first of files that has one.
func (pl *planner) pyAppSpec(re *lazyRegexp, files []string) (spec, file string) {
	for _, f := range files {
		text, ok := pl.src.head(f)
		if !ok {
			continue
		}
		m := re.FindStringSubmatch(text)
		if m == nil {
			continue
		}
		mod := strings.TrimSuffix(f, ".py")
		mod = strings.TrimSuffix(mod, "/__init__")
		mod = strings.ReplaceAll(mod, "/", ".")
		if !pyModuleRe.MatchString(mod) {
			continue
		}
		return mod + ":" + m[1], f
	}
	return "", ""
}

// pyServe is the shell form that starts an ASGI or WSGI server on $PORT.
func pyServe(format string, args ...any) []string {
	return []string{"/bin/sh", "-c", fmt.Sprintf(format, args...)}
}

// pythonStart is the default start command of each Python stack.
func (pl *planner) pythonStart(stack string, py *pyProject) ([]string, string) {
	switch stack {
	case StackDjango:
		project := ""
		if text, ok := pl.src.head("manage.py"); ok {
			if m := djangoSettingsRe.FindStringSubmatch(text); m != nil && pyModuleRe.MatchString(m[1]) {
				project = m[1]
			}
		}
		if project == "" {
			for _, f := range pl.src.glob("*/wsgi.py") {
				if dir := path.Dir(f); pyModuleRe.MatchString(dir) {
					project = dir
					break
				}
			}
		}
		switch {
		case project != "" && py.deps["gunicorn"]:
			return []string{"gunicorn", project + ".wsgi"}, "gunicorn " + project + ".wsgi (gunicorn binds 0.0.0.0:$PORT)"
		case project != "" && py.deps["uvicorn"] && pl.src.isFile(project+"/asgi.py"):
			return pyServe(`exec uvicorn %s.asgi:application --host 0.0.0.0 --port "${PORT:-8000}"`, project), "uvicorn " + project + ".asgi:application"
		case pl.src.isFile("manage.py"):
			pl.reason("warning: neither gunicorn nor uvicorn is a dependency, so the app runs on Django's development server; add gunicorn")
			return pyServe(`exec python manage.py runserver "0.0.0.0:${PORT:-8000}"`), "python manage.py runserver"
		}
		return nil, "no manage.py and no <project>/wsgi.py"
	case StackFlask:
		spec, file := pl.pyAppSpec(flaskAppRe, []string{"app.py", "wsgi.py", "main.py", "application.py", "server.py", "app/__init__.py"})
		if spec == "" {
			if s, f := pl.pyAppSpec(flaskFactoryRe, []string{"app/__init__.py", "app.py", "wsgi.py", "main.py"}); s != "" {
				spec, file = s+"()", f
			}
		}
		if spec == "" {
			return nil, "no Flask(...) app or create_app() found in app.py, wsgi.py or main.py"
		}
		pl.reason("Flask app %s in %s", spec, file)
		if py.deps["gunicorn"] {
			return []string{"gunicorn", spec}, "gunicorn " + spec + " (gunicorn binds 0.0.0.0:$PORT)"
		}
		pl.reason("warning: gunicorn is not a dependency, so the app runs on Flask's development server; add gunicorn")
		return pyServe(`exec flask --app '%s' run --host 0.0.0.0 --port "${PORT:-8000}"`, spec), "flask run"
	case StackFastAPI:
		spec, file := pl.pyAppSpec(fastAPIAppRe, []string{"main.py", "app.py", "app/main.py", "src/main.py", "api.py", "server.py", "app/__init__.py"})
		if spec == "" {
			return nil, "no FastAPI(...) app found in main.py, app.py or app/main.py"
		}
		pl.reason("FastAPI app %s in %s", spec, file)
		if !py.deps["uvicorn"] {
			pl.reason("warning: uvicorn is not a dependency (nor fastapi[standard]); the start command needs it")
		}
		return pyServe(`exec uvicorn %s --host 0.0.0.0 --port "${PORT:-8000}"`, spec), "uvicorn " + spec
	}
	if f, ok := pl.src.firstOf("main.py", "app.py", "server.py"); ok {
		return []string{"python", f}, "python " + f
	}
	return nil, "no framework and no main.py, app.py or server.py"
}

// planPython installs into a virtual environment on the full python image
// (which can compile sdists) and copies it to the slim one.
func planPython(pl *planner) error {
	py, err := pl.readPython()
	if err != nil {
		return err
	}
	if pl.opts.Stack != "" && py.manifests == nil && !pl.src.isFile("manage.py") {
		return pl.missing("requirements.txt, pyproject.toml or manage.py")
	}
	stack := StackPython
	switch {
	case pl.opts.Stack != "":
		stack = pl.opts.Stack
	case pl.src.isFile("manage.py") || py.deps["django"]:
		stack = StackDjango
		pl.reason("found manage.py or the django dependency: Django")
	case py.deps["fastapi"]:
		stack = StackFastAPI
		pl.reason("found the fastapi dependency: FastAPI")
	case py.deps["flask"]:
		stack = StackFlask
		pl.reason("found the flask dependency: Flask")
	}
	pl.stack(stack)
	pl.plan.PackageManager = py.manager
	def, what := pl.pythonStart(stack, py)
	argv, _, err := pl.start(def, what)
	if err != nil {
		return err
	}
	version := pl.pythonVersion(py)
	pl.plan.Version = version
	port := pl.port(8000)
	pl.ignore("__pycache__", "*.pyc", ".venv", "venv", ".pytest_cache", ".mypy_cache")

	var libs []string
	for dep, lib := range pythonRuntimeLibs {
		if py.deps[dep] {
			libs = append(libs, lib)
		}
	}
	slices.Sort(libs)
	if len(libs) > 0 {
		pl.reason("source-built database drivers need %s at run time", strings.Join(libs, ", "))
	}

	df := &pl.df
	df.versionArg("PYTHON_VERSION", version)
	df.blank()
	df.linef("FROM python:${PYTHON_VERSION}-bookworm AS build")
	df.linef("ENV PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1")
	switch py.manager {
	case "uv":
		df.linef(`RUN pip install "uv<1"`)
		df.linef("ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/venv")
	case "poetry":
		df.linef(`RUN pip install "poetry>=2,<3"`)
		df.linef("RUN python -m venv /opt/venv")
		df.linef("ENV POETRY_NO_INTERACTION=1")
	default:
		df.linef("RUN python -m venv /opt/venv")
	}
	df.linef("ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH")
	df.linef("WORKDIR /app")
	frozen := ""
	if pl.src.isFile("uv.lock") {
		frozen = " --frozen"
	}
	switch {
	case py.noInstall:
		df.linef("COPY . .")
	case py.manager == "pip" && py.needsTree:
		pl.reason("requirements.txt refers to other files: the whole tree is copied before installing")
		df.linef("COPY . .")
		df.linef("RUN pip install -r requirements.txt")
	case py.manager == "pip":
		df.copyFiles(py.manifests, "./")
		df.linef("RUN pip install -r requirements.txt")
		df.linef("COPY . .")
	case py.manager == "poetry":
		df.copyFiles(py.manifests, "./")
		df.linef("RUN poetry install --only main --no-root")
		df.linef("COPY . .")
	case py.manager == "uv":
		df.copyFiles(py.manifests, "./")
		df.linef("RUN uv sync%s --no-dev --no-install-project", frozen)
		df.linef("COPY . .")
		df.linef("RUN uv sync%s --no-dev --no-editable", frozen)
	}
	pl.build(func() {
		if stack == StackDjango && pl.djangoStaticRoot() {
			pl.reason("settings set STATIC_ROOT: running collectstatic (a failure is logged, not fatal: settings may need run-time env)")
			df.linef(`RUN python manage.py collectstatic --noinput || echo "warning: collectstatic failed; set a build command to run it with the settings it needs"`)
		}
	})
	df.blank()
	df.linef("FROM python:${PYTHON_VERSION}-slim-bookworm")
	df.linef("ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH")
	df.aptInstall(libs)
	df.debianUser()
	df.linef("WORKDIR /app")
	df.linef("COPY --from=build /opt/venv /opt/venv")
	df.linef("COPY --from=build /app ./")
	df.port(port)
	df.linef("USER %d", appUID)
	df.cmd(argv)
	return nil
}

// djangoStaticRoot reports whether a settings module sets STATIC_ROOT.
func (pl *planner) djangoStaticRoot() bool {
	for _, f := range append(pl.src.glob("*/settings.py"), pl.src.glob("*/settings/*.py")...) {
		if text, ok := pl.src.head(f); ok && strings.Contains(text, "STATIC_ROOT") {
			return true
		}
	}
	return false
}
