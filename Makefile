# cloudwallet — the two commands a new machine needs are `make run` and `make test`.
GO        ?= go
GOTESTSUM ?= $(GO) run gotest.tools/gotestsum@v1.13.0
VERSION   ?= $(shell git describe --tags --always 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
DATA_DIR  ?= ./data
PKGS      := ./...

.PHONY: run build test vet browser fmt-check bench bench-go fuzz clean

## run: start the embedded single-node server on ./data (http 127.0.0.1:8080)
run:
	$(GO) run -ldflags '$(LDFLAGS)' ./cmd/cloudwallet serve --data-dir $(DATA_DIR)

## build: build bin/cloudwallet
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/cloudwallet ./cmd/cloudwallet

## test: vet, format check, and every test with the race detector (the
## end-to-end tests' servers too: a race kills the server and fails its test).
## A failing test's output is printed where it fails; the summary at the end
## names the failed tests without repeating it, so a log's tail names them.
## The console's browser tests need Chromium: installed here when missing and
## run as root (Debian's chromium), else they skip with a line saying so.
test: vet fmt-check browser
	CLOUDWALLET_E2E_RACE=1 GORACE=halt_on_error=1 $(GOTESTSUM) --format pkgname-and-test-fails --format-hide-empty-pkg --hide-summary=output -- -race -timeout 12m -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

browser:
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium for the console's browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

## bench: the standard suite against fresh servers on this machine — the bare
## fasthttp baseline and cloudwallet with uniform, hot and zipf transfers,
## 3 runs each (medians), memory per wallet and entry, restart time with
## 1M wallets and 10M entries — written to bench/RESULTS.md (about 10 minutes)
bench: build
	bin/cloudwallet bench suite --runs 3 --out bench/RESULTS.md --json bench/results.json
	@cat bench/RESULTS.md

## bench-go: Go benchmarks of the core (shard apply, engine, log stores, auth)
bench-go:
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 3 ./shard/ ./engine/ ./wal/ ./transport/

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./wal/ -run '^$$' -fuzz FuzzDecodeRecord -fuzztime $(FUZZTIME)
	$(GO) test ./wal/ -run '^$$' -fuzz FuzzDecodeShared -fuzztime $(FUZZTIME)
	$(GO) test ./raftfsm/ -run '^$$' -fuzz FuzzDecodeEntry -fuzztime $(FUZZTIME)
	$(GO) test ./shard/ -run '^$$' -fuzz FuzzReadMachine -fuzztime $(FUZZTIME)
	$(GO) test ./transport/ -run '^$$' -fuzz FuzzParseTransaction -fuzztime $(FUZZTIME)
	$(GO) test ./transport/ -run '^$$' -fuzz FuzzParseCustomer -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
