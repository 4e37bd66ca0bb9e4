# ws — build, test and release targets. See README.md.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/ws-dev/ws/internal/build.Version=$(VERSION)
# Tests run with a neutral locale and no pager/editor (determinism).
TESTENV := LC_ALL=C PAGER= EDITOR= VISUAL= NO_COLOR=

.PHONY: build demo test test-go golden fuzz bench lint clean browser-deps web web-check test-browser test-browser-or-skip

build: ## build bin/ws
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ws ./cmd/ws

demo: build ## compile the example devfile and print the generated CI job
	./bin/ws compile examples/go-web/devfile.yaml --name demo

test: ## run every test (CI runs this)
	$(TESTENV) $(GO) vet ./...
	$(TESTENV) $(GO) test -count=1 ./...

golden: ## rewrite golden files from current output
	WS_UPDATE=1 $(TESTENV) $(GO) test -count=1 ./...

fuzz: ## fuzz the compiler for FUZZTIME (default 2m)
	$(TESTENV) $(GO) test ./compiler -run '^$$' -fuzz FuzzCompile -fuzztime $${FUZZTIME:-2m}

bench: ## run Go benchmarks and bench/ scripts; figures go in docs/benchmarks.md
	$(TESTENV) $(GO) test -run '^$$' -bench . -benchmem ./...

# Web UI (webui/). The built assets in webui/dist are committed, so `go build` needs only Go;
# these targets need npm and are the only way the assets and the browser test are rebuilt.
browser-deps: ## install chromium, Node.js/npm (apt, when missing) and the web UI's npm packages (npm ci)
	bash scripts/install-browser-deps.sh

web: browser-deps ## rebuild webui/dist from webui/frontend (deterministic)
	cd webui/frontend && node build.mjs ../dist

web-check: browser-deps ## fail when the committed webui/dist differs from a fresh build of webui/frontend
	cd webui/frontend && node build.mjs --check ../dist

test-browser: web-check ## browser test of the web terminal: headless chromium against a real PTY shell
	$(TESTENV) bash webui/browsertest/run.sh

test-browser-or-skip: ## test-browser when chromium and npm are here or CI is set; otherwise say why not
	@if [ -n "$$CI" ] || { command -v chromium && command -v npm; } >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory test-browser; \
	else \
		echo "test-browser: SKIP: chromium or npm not found and CI is not set (make test-browser installs them)"; \
	fi

clean:
	rm -rf bin dist
