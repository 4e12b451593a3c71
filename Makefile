GO ?= go
STATICCHECK ?= $(shell $(GO) env GOPATH)/bin/staticcheck
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/berth-run/berth/internal/cli.Version=$(VERSION)

.PHONY: help build man test test/race test/short lint deps bench fuzz clean

help: ## list the targets
	@grep -E '^[a-z/]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build bin/berth
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/berth ./cmd/berth

man: ## write the man pages, one a command, into docs/man (not committed)
	SOURCE_DATE_EPOCH=$${SOURCE_DATE_EPOCH:-$$(git log -1 --format=%ct 2>/dev/null || date +%s)} \
	$(GO) run -tags man -ldflags "$(LDFLAGS)" ./cmd/berth man docs/man

deps: ## install what the tests need (busybox-static, kcat, parallel, chromium, promtool) and start Docker
	@./scripts/test-deps.sh

test: deps lint test/race ## everything CI runs: deps, lint, all tests with the race detector

test/race: ## all tests, race detector on
	$(GO) test -race -count=1 -timeout 15m ./...

test/short: ## quick tests only
	$(GO) test -short -count=1 ./...

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@[ -x $(STATICCHECK) ] || $(GO) install honnef.co/go/tools/cmd/staticcheck@latest
	$(STATICCHECK) ./...

bench: build ## benchmarks against xargs, GNU parallel (prints ratios); BASELINE=REV also against berth at REV
	BERTH_BENCH_BASELINE=$(if $(BASELINE),$$(./scripts/build-rev.sh $(BASELINE))) \
	$(GO) test -run '^$$' -bench '$(or $(BENCH),.)' -benchtime 1x -timeout 30m ./bench/

FUZZ_PKGS := ./job/ ./openjd/ ./openjd/expr/ ./worker/kafka/

FUZZTIME ?= 60s

fuzz: ## run each fuzz target for FUZZTIME (60s)
	@for p in $(FUZZ_PKGS); do for f in $$($(GO) test -list '^Fuzz' $$p | grep ^Fuzz); do $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$p || exit 1; done; done

clean: ## remove build output
	rm -rf bin
