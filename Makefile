# ws — build, test and release targets. See README.md.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/ws-dev/ws/internal/build.Version=$(VERSION)
# Tests run with a neutral locale and no pager/editor (determinism).
TESTENV := LC_ALL=C PAGER= EDITOR= VISUAL= NO_COLOR=

.PHONY: build demo test test-go golden fuzz bench lint clean

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

clean:
	rm -rf bin dist
