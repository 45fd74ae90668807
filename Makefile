# caddy-paas: `make run` builds and runs the product, `make test` runs every test.
GO      ?= go
BIN     := bin/caddy
XCADDY  := github.com/caddyserver/xcaddy/cmd/xcaddy@v0.4.5
UNIT    := $(shell $(GO) list ./... | grep -v -e /integration -e /bench)

.PHONY: build run test unit integration bench lint fuzz xcaddy docker testdeps images assets clean

## build: compile Caddy with caddy-paas into ./bin/caddy
build:
	$(GO) build -trimpath -ldflags "-s -w" -o $(BIN) ./cmd/caddy

## run: build, make sure Docker answers, build the tour's images, run Caddyfile.example
run: build docker images
	$(BIN) run --config Caddyfile.example

## test: every test; unit tests with -race, integration tests against the real Docker engine
test: docker testdeps lint unit integration

unit:
	$(GO) test -race -count=1 -timeout 10m $(UNIT)

integration:
	$(GO) test -race -count=1 -timeout 20m ./integration/...

## bench: the benchmark table (docs/benchmarks.md)
bench: build
	$(GO) run ./bench

## lint: formatting, vet and a tidy go.mod
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod tidy -diff

## fuzz: run each fuzz test for a bounded time (FUZZTIME, default 20s)
FUZZTIME ?= 20s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseAPIToken$$' -fuzztime $(FUZZTIME) ./auth
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./admin

## xcaddy: build ./bin/caddy with xcaddy from the manifest xcaddy.json
xcaddy:
	$(GO) run $(XCADDY) build $$($(GO) run ./internal/buildmanifest xcaddy.json) --output $(BIN)

docker:
	./scripts/docker-up.sh

testdeps:
	./scripts/test-deps.sh

images: docker
	./scripts/images.sh

## assets: vendor the dashboard's npm dependencies (xterm.js) into ui/dashboard/assets/vendor
## from ui/dashboard/web/package-lock.json (needs Node.js; the output is committed)
assets:
	./scripts/assets.sh

clean:
	rm -rf bin
