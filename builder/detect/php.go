package detect

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// defaultPHPVersion is the php image line used when composer.json does not
// ask for one; phpLines are the lines a constraint may pick.
const defaultPHPVersion = "8.3"

var phpLines = []string{"8.3", "8.4", "8.2", "8.1"}

// phpExtensions are the extensions docker-php-ext-install can build, with
// the Debian packages they need to compile. Extensions already in the php
// image (pdo_sqlite, mbstring, curl, ...) and PECL extensions are not
// listed: the first need nothing, the second are not built here.
var phpExtensions = map[string][]string{
	"bcmath": nil, "calendar": nil, "exif": nil, "mysqli": nil, "opcache": nil, "pcntl": nil,
	"pdo_mysql": nil, "sockets": nil,
	"pdo_pgsql": {"libpq-dev"}, "pgsql": {"libpq-dev"}, "intl": {"libicu-dev"}, "zip": {"libzip-dev"}, "gd": {"libpng-dev"},
}

// phpBuiltin are extensions the php image already has.
var phpBuiltin = []string{
	"ctype", "curl", "date", "dom", "fileinfo", "filter", "hash", "iconv", "json", "libxml", "mbstring",
	"mysqlnd", "openssl", "pcre", "pdo", "pdo_sqlite", "phar", "posix", "readline", "reflection", "session",
	"simplexml", "sodium", "spl", "sqlite3", "standard", "tokenizer", "xml", "xmlreader", "xmlwriter", "zlib",
}

// planPHP runs PHP on the official php Apache image, with Composer
// dependencies installed in a composer stage (without composer.json, a
// source stage prepares the files) and, when package.json has a build
// script (Laravel's Vite), front-end assets built in a node stage.
func planPHP(pl *planner) error {
	hasComposer := pl.src.isFile("composer.json")
	if !hasComposer && !pl.src.isFile("index.php") {
		return pl.missing("composer.json or index.php")
	}
	var composer struct {
		Require map[string]json.RawMessage `json:"require"`
	}
	if hasComposer {
		text, _, err := pl.src.read("composer.json")
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(text), &composer); err != nil {
			return fmt.Errorf("parsing composer.json: %w", err)
		}
	}
	laravel := pl.forced(StackLaravel) || (!pl.forced(StackPHP) && pl.src.isFile("artisan"))
	if laravel {
		pl.stack(StackLaravel)
		pl.reason("found composer.json and artisan: Laravel")
	} else {
		pl.stack(StackPHP)
		pl.reason("found composer.json or index.php: PHP on Apache")
	}
	if hasComposer {
		pl.plan.PackageManager = "composer"
	}
	if strings.HasPrefix(pl.procfile, "heroku-php-") {
		pl.reason("Procfile ignored: heroku-php-* scripts exist only on Heroku; Apache serves the app")
		pl.procfile = ""
	}
	argv, _, err := pl.start([]string{"apache2-foreground"}, "apache2-foreground (Apache listens on $PORT)")
	if err != nil {
		return err
	}

	version := defaultPHPVersion
	var constraint string
	if raw, ok := composer.Require["php"]; ok && json.Unmarshal(raw, &constraint) == nil {
		version = pl.versionLine("PHP", "composer.json require.php", constraint, phpLines, defaultPHPVersion)
	} else {
		pl.reason("no PHP version in composer.json require.php: using PHP %s", defaultPHPVersion)
	}
	pl.plan.Version = version
	port := pl.port(8080)
	if hasComposer {
		pl.ignore("vendor")
	}
	if laravel {
		pl.ignore("storage/logs/*", "bootstrap/cache/*.php")
	}

	exts := []string{"opcache"}
	if laravel {
		exts = append(exts, "pdo_mysql")
	}
	var unknown []string
	for name := range composer.Require {
		ext, ok := strings.CutPrefix(strings.ToLower(name), "ext-")
		if !ok || slices.Contains(phpBuiltin, ext) {
			continue
		}
		if _, ok := phpExtensions[ext]; ok {
			if !slices.Contains(exts, ext) {
				exts = append(exts, ext)
			}
		} else {
			unknown = append(unknown, printable(ext))
		}
	}
	slices.Sort(exts)
	slices.Sort(unknown)
	var devLibs []string
	for _, e := range exts {
		for _, lib := range phpExtensions[e] {
			if !slices.Contains(devLibs, lib) {
				devLibs = append(devLibs, lib)
			}
		}
	}
	pl.reason("PHP extensions installed: %s", strings.Join(exts, ", "))
	if len(unknown) > 0 {
		pl.reason("warning: not installed (PECL or unknown extensions need a Dockerfile): %s", strings.Join(unknown, ", "))
	}

	docroot := "/var/www/html"
	if laravel || pl.src.isFile("public/index.php") {
		docroot = "/var/www/html/public"
	}
	pl.reason("document root %s", docroot)

	df := &pl.df
	df.versionArg("PHP_VERSION", version)

	// Front-end assets (Laravel's Vite writes public/build).
	var assets bool
	if p, err := pl.readPackageJSON(); err != nil {
		return err
	} else if p != nil && p.scripts["build"] != "" {
		assets = true
		pl.ignore("node_modules", "public/build", "public/hot")
		pm := pl.nodePackageManager(p, 0)
		pl.reason("package.json has a build script: building front-end assets in a node stage, copied to public/build")
		df.versionArg("NODE_VERSION", defaultNodeVersion)
		df.blank()
		df.linef("FROM node:${NODE_VERSION}-bookworm-slim AS assets")
		df.linef("WORKDIR /app")
		if len(pm.setup) > 0 {
			df.run(pm.setup...)
		}
		pl.nodeInstall(p, pm)
		df.linef("RUN %s run build", pm.name)
	}

	if hasComposer {
		df.blank()
		df.linef("FROM composer:2 AS vendor")
		df.linef("WORKDIR /app")
		if !pl.src.isFile("composer.lock") {
			pl.reason("no composer.lock: dependencies are resolved at build time (commit composer.lock for reproducible builds)")
		}
		df.copyFiles(pl.src.existing("composer.json", "composer.lock"), "./")
		// The composer image's PHP is not the runtime's and lacks its
		// extensions: platform requirements are checked by the runtime.
		df.linef("RUN composer install --no-dev --no-interaction --no-progress --no-scripts --no-autoloader --prefer-dist --ignore-platform-reqs")
		df.linef("COPY . .")
		df.linef("RUN composer dump-autoload --optimize --no-dev --no-scripts")
	}

	if !hasComposer {
		// No vendor stage to take the source from: a source stage on the
		// runtime's image prepares it.
		df.blank()
		pl.sourceStage("php:${PHP_VERSION}-apache-bookworm", "/app", nil)
	}

	df.blank()
	df.linef("FROM php:${PHP_VERSION}-apache-bookworm")
	if len(devLibs) > 0 {
		df.aptInstall(devLibs)
	}
	df.linef("RUN docker-php-ext-install %s", strings.Join(exts, " "))
	df.linef(`RUN cp "$PHP_INI_DIR/php.ini-production" "$PHP_INI_DIR/php.ini"`)
	df.linef("ENV APACHE_DOCUMENT_ROOT=%s", docroot)
	// Apache reads ${PORT} and ${APACHE_DOCUMENT_ROOT} from its environment
	// when it starts: the seds write them literally into its config.
	df.run(
		"a2enmod rewrite",
		`sed -ri -e 's!^Listen 80$!Listen ${PORT}!' /etc/apache2/ports.conf`,
		`sed -ri -e 's!<VirtualHost \*:80>!<VirtualHost *:${PORT}>!' /etc/apache2/sites-available/000-default.conf`,
		`sed -ri -e 's!/var/www/html!${APACHE_DOCUMENT_ROOT}!g' /etc/apache2/sites-available/*.conf`,
		`printf '<Directory ${APACHE_DOCUMENT_ROOT}>\n\tAllowOverride All\n</Directory>\n' > /etc/apache2/conf-available/app.conf`,
		"a2enconf app",
	)
	df.debianUser()
	df.linef("WORKDIR /var/www/html")
	if hasComposer {
		df.linef("COPY --from=vendor /app ./")
	} else {
		df.linef("COPY --from=source /app ./")
	}
	if assets {
		df.linef("COPY --from=assets /app/public/build ./public/build")
	}
	pl.build(func() {})
	if laravel {
		df.run("mkdir -p storage/framework/cache storage/framework/sessions storage/framework/views storage/logs bootstrap/cache",
			fmt.Sprintf("chown -R %d:%d storage bootstrap/cache", appUID, appUID))
	}
	df.port(port)
	df.linef("USER %d", appUID)
	df.cmd(argv)
	return nil
}
