#!/usr/bin/env bash
# Vendors the dashboard's npm dependencies (xterm.js and its fit addon):
# installs exactly what ui/dashboard/web/package-lock.json pins (npm ci
# checks every package against the lockfile's integrity hash), copies their
# distributed browser builds into ui/dashboard/assets/vendor/, and writes
# ui/dashboard/assets/vendor/MANIFEST: each package's version and integrity,
# and the sha256 of each copied file.
#
# The output is committed and embedded with go:embed, so building caddy-paas
# (go build, xcaddy) never needs Node.js; only changing these dependencies
# does. A test in ui/dashboard (vendor_test.go) fails when the vendored files
# no longer match the lockfile or the MANIFEST: run `make assets` again after
# changing package.json or package-lock.json.
#
# To update: edit the pinned versions in ui/dashboard/web/package.json, run
# `npm install --ignore-scripts` there (it rewrites package-lock.json), then
# `make assets`, and commit the three together.
set -euo pipefail
cd "$(dirname "$0")/.."

web=ui/dashboard/web
vendor=ui/dashboard/assets/vendor

if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
	echo "assets: Node.js and npm are needed to vendor the dashboard's npm dependencies" >&2
	exit 1
fi

# No install scripts run: the packages are only copied, never executed here.
(cd "$web" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

# What is copied: the package, the file in it, its name in assets/vendor.
# The UMD builds (lib/*.js) define globals (Terminal, FitAddon.FitAddon), so
# the page loads them with plain <script> tags and no bundler. The licenses
# go along with the code they cover. Keep assets/vendor flat: a Go module
# zip (what xcaddy downloads) leaves out files in subfolders of a folder
# named vendor, and the dashboard addresses its assets by file name.
files=(
	"@xterm/xterm lib/xterm.js xterm.js"
	"@xterm/xterm css/xterm.css xterm.css"
	"@xterm/xterm LICENSE xterm-LICENSE.txt"
	"@xterm/addon-fit lib/addon-fit.js addon-fit.js"
	"@xterm/addon-fit LICENSE addon-fit-LICENSE.txt"
)

rm -rf "$vendor"
mkdir -p "$vendor"
node - "$web" "$vendor" "${files[@]}" <<'EOF'
"use strict";
const fs = require("fs");
const path = require("path");
const crypto = require("crypto");

const [web, vendor, ...files] = process.argv.slice(2);
const lock = JSON.parse(fs.readFileSync(path.join(web, "package-lock.json"), "utf8"));
const fail = (msg) => { console.error("assets: " + msg); process.exit(1); };
if (lock.lockfileVersion !== 3) fail("package-lock.json: lockfileVersion " + lock.lockfileVersion + ", want 3");

const out = [
  "# The dashboard's npm dependencies, vendored by scripts/assets.sh (make assets)",
  "# from ui/dashboard/web/package-lock.json. Generated: do not edit. A test",
  "# (ui/dashboard/vendor_test.go) checks each package line against the lockfile",
  "# and each file line against the file's content.",
  "#",
  "# package <name> <version> <lockfile integrity>",
  "# file <name here> <package>/<path in the package> sha256:<hex>",
];

// Every package of the lockfile, in name order, checked against what
// npm ci installed.
const pkgs = Object.keys(lock.packages).filter((k) => k.startsWith("node_modules/")).sort();
for (const key of pkgs) {
  const entry = lock.packages[key];
  const name = key.slice("node_modules/".length);
  if (!entry.version || !entry.integrity) fail(key + ": no version or integrity in the lockfile");
  const installed = JSON.parse(fs.readFileSync(path.join(web, key, "package.json"), "utf8"));
  if (installed.version !== entry.version) fail(name + ": installed " + installed.version + ", locked " + entry.version);
  out.push(["package", name, entry.version, entry.integrity].join(" "));
}

const copied = files.map((line) => {
  const [pkg, file, dest] = line.split(" ");
  if (!pkgs.includes("node_modules/" + pkg)) fail(pkg + " is not in the lockfile");
  const body = fs.readFileSync(path.join(web, "node_modules", pkg, file));
  fs.writeFileSync(path.join(vendor, dest), body, { mode: 0o644 });
  const sum = crypto.createHash("sha256").update(body).digest("hex");
  return ["file", dest, pkg + "/" + file, "sha256:" + sum].join(" ");
});
copied.sort((a, b) => (a.split(" ")[1] < b.split(" ")[1] ? -1 : 1));
out.push(...copied);
fs.writeFileSync(path.join(vendor, "MANIFEST"), out.join("\n") + "\n", { mode: 0o644 });
EOF

echo "vendored into $vendor:"
sed -n 's/^package /  /p' "$vendor/MANIFEST"
