# ws — build, test and release targets. See README.md.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/ws-dev/ws/internal/build.Version=$(VERSION)
# Tests run with a neutral locale and no pager/editor (determinism).
TESTENV := LC_ALL=C PAGER= EDITOR= VISUAL= NO_COLOR=

.PHONY: build demo test test-go golden fuzz bench lint clean browser-deps web web-check test-browser test-browser-or-skip bench-tunnel bench-ssh gitlab-ci-local gitlab-ci-local-or-skip podman-deps openssh-deps redis-deps bench-replicas

build: ## build bin/ws
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/ws ./cmd/ws

demo: build ## start examples/hello on this machine (ws up --local), run a command in it, stop it
	sh scripts/demo.sh

test: ## run every test (CI runs this)
	@# The container-mode tests of ws up --local need Podman: CI installs it, elsewhere they skip without it.
	@if [ -n "$$CI" ]; then bash scripts/install-podman.sh; \
	elif ! command -v podman >/dev/null 2>&1; then echo "test: podman not found: the container-mode tests of 'ws up --local' skip (make podman-deps installs it)"; fi
	@# The gateway's scale-out tests need redis-server and haproxy: CI installs them, elsewhere they skip without them.
	@if [ -n "$$CI" ]; then bash scripts/install-redis-haproxy.sh; \
	elif ! { command -v redis-server && command -v haproxy; } >/dev/null 2>&1; then echo "test: redis-server or haproxy not found: the gateway's scale-out tests skip (make redis-deps installs them)"; fi
	@# The SSH tests drive the real OpenSSH client and an sshd: CI installs them, elsewhere they skip without them.
	@if [ -n "$$CI" ]; then bash scripts/install-openssh.sh; \
	elif ! command -v ssh >/dev/null 2>&1 || ! [ -x /usr/sbin/sshd ]; then echo "test: OpenSSH not found: the SSH tests skip (make openssh-deps installs it)"; fi
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(TESTENV) $(GO) vet ./...
	$(MAKE) --no-print-directory gitlab-ci-local-or-skip
	$(TESTENV) $(GO) test -count=1 ./...
	# The concurrent parts again under the race detector.
	$(TESTENV) $(GO) test -race -count=1 ./tunnel/... ./gateway/... ./agent/... ./internal/e2e/... ./local/... ./webui/... ./gitlab/... ./cmd/...
	$(MAKE) --no-print-directory check-docs
	$(MAKE) --no-print-directory check-deploy
	$(MAKE) --no-print-directory test-browser-or-skip

golden: ## rewrite golden files from current output
	WS_UPDATE=1 $(TESTENV) $(GO) test -count=1 ./...

fuzz: ## fuzz the compiler for FUZZTIME (default 2m)
	$(TESTENV) $(GO) test ./compiler -run '^$$' -fuzz FuzzCompile -fuzztime $${FUZZTIME:-2m}

# golangci-lint is pinned as a Go tool in tools/go.mod (its own module, so ws's go.mod does not grow).
# CI runs lint as its own step (.ci/run), not in make test: on a cold cache (building golangci-lint)
# make lint takes about 8.5 CPU-minutes (4-5 min on 2 cores), which would leave make test no margin under 15 min.
GOLANGCI_LINT := $(GO) tool -modfile=tools/go.mod golangci-lint

lint: ## golangci-lint with .golangci.yml (depguard keeps docs/architecture.md's boundaries); CI runs it after make test
	$(GOLANGCI_LINT) run ./...

bench: ## run Go benchmarks and bench/ scripts; figures go in docs/benchmarks.md
	$(TESTENV) $(GO) test -run '^$$' -bench . -benchmem ./...

bench-tunnel: build ## cross-process tunnel figures: ws port-forward / shell / endpoint URL → gateway → agent, each a process, against direct loopback (docs/benchmarks.md)
	WS_BENCH=1 WS_BIN=$(CURDIR)/bin/ws $(TESTENV) $(GO) test ./bench/tunnel -run TestCrossProcess -v -count=1

bench-replicas: build ## gateway replicas (docs/benchmarks.md): port-forward same replica vs forwarded; memory per idle agent and Redis commands per agent with 3 replicas (needs redis-server)
	WS_BENCH=1 WS_BIN=$(CURDIR)/bin/ws $(TESTENV) $(GO) test ./bench/tunnel -run 'TestReplicaForwarding|TestReplicaIdleMemory' -v -count=1 -timeout 20m

bench-ssh: build ## SSH into a workspace vs a local sshd, in one run: scp of 256 MiB each way, ssh host true ×50; each part a process (docs/benchmarks.md)
	WS_BENCH=1 WS_BIN=$(CURDIR)/bin/ws $(TESTENV) $(GO) test ./bench/ssh -run TestSSHAgainstSSHD -v -count=1 -timeout 20m

# Web UI (webui/). The built assets in webui/dist are committed, so `go build` needs only Go;
# these targets need npm and are the only way the assets and the browser test are rebuilt.
browser-deps: ## install chromium, Node.js/npm (apt, when missing) and the web UI's npm packages (npm ci)
	bash scripts/install-browser-deps.sh

web: browser-deps ## rebuild webui/dist from webui/frontend (deterministic)
	cd webui/frontend && node build.mjs ../dist

web-check: browser-deps ## fail when the committed webui/dist differs from a fresh build of webui/frontend
	cd webui/frontend && node build.mjs --check ../dist

test-browser: web-check ## browser test of the web terminal: headless chromium against a real gateway and agent (internal/e2e/browserserver)
	$(TESTENV) bash webui/browsertest/run.sh

test-browser-or-skip: ## test-browser when chromium and npm are here or CI is set; otherwise say why not
	@if [ -n "$$CI" ] || { command -v chromium && command -v npm; } >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory test-browser; \
	else \
		echo "test-browser: SKIP: chromium or npm not found and CI is not set (make test-browser installs them)"; \
	fi

# gitlab-ci-local (npm, pinned by internal/testutil/gitlabcilocal/package-lock.json) judges every
# generated pipeline in internal/corpustest; tests skip without it unless CI is set.
gitlab-ci-local: ## install gitlab-ci-local for the tests (and Node.js/npm with apt when missing)
	bash scripts/install-gitlab-ci-local.sh

gitlab-ci-local-or-skip: ## gitlab-ci-local when npm is here or CI is set; otherwise say why not
	@if [ -n "$$CI" ] || command -v npm >/dev/null 2>&1; then \
		$(MAKE) --no-print-directory gitlab-ci-local; \
	else \
		echo "gitlab-ci-local: SKIP: npm not found and CI is not set (make gitlab-ci-local installs it); its tests will skip"; \
	fi

# The gateway's scale-out tests (internal/e2e/scaleout, internal/kv/rediskv) run real servers.
redis-deps: ## install redis-server and haproxy (apt, when missing) for the gateway's scale-out tests
	bash scripts/install-redis-haproxy.sh

# Container mode of ws up --local (local/): the tests run real Podman with an image built from
# busybox-static by scripts/build-test-images.sh (cached by content hash).
openssh-deps: ## install openssh-client, openssh-server and git for the SSH tests and bench (apt, when missing)
	bash scripts/install-openssh.sh

podman-deps: ## install podman, runc, busybox-static and what rootful/rootless podman needs (apt, when missing)
	bash scripts/install-podman.sh

clean:
	rm -rf bin dist

# --- Set-up and distribution (issue 6): release, deployment and generated docs. ---
# Tools come from the Go module proxy at pinned versions into bin/tools/<tool>-<version>/.
HELM_VERSION ?= v3.22.0
GORELEASER_VERSION ?= v2.15.1
HELM := $(CURDIR)/bin/tools/helm-$(HELM_VERSION)/helm
GORELEASER := $(CURDIR)/bin/tools/goreleaser-$(GORELEASER_VERSION)/goreleaser

.PHONY: tools-helm tools-goreleaser deploy-manifests check-deploy release-check snapshot docs check-docs

$(HELM):
	GOBIN=$(dir $@) CGO_ENABLED=0 $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(GORELEASER):
	GOBIN=$(dir $@) CGO_ENABLED=0 $(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

tools-helm: $(HELM) ## install helm (about 1.5 min on a fresh machine)
tools-goreleaser: $(GORELEASER) ## install goreleaser (about 3.5 min on a fresh machine)

deploy-manifests: $(HELM) ## regenerate deploy/kubernetes/ws-gateway.yaml from the Helm chart
	{ echo "# Generated by 'make deploy-manifests' from deploy/helm/ws-gateway (helm template); DO NOT EDIT."; \
	  echo "# Set WS_GATEWAY_GITLAB_URL, WS_GATEWAY_PUBLIC_URL and the ingress hosts for your site; see docs/deploy.md."; \
	  $(HELM) template ws-gateway deploy/helm/ws-gateway; } > deploy/kubernetes/ws-gateway.yaml

check-deploy: $(HELM) ## helm lint the chart, test it and the manifests with helm, build ws with the release flags (make test runs this)
	$(HELM) lint --strict deploy/helm/ws-gateway
	HELM=$(HELM) WS_REQUIRE_HELM=1 WS_DEPLOY_BUILD=1 $(TESTENV) $(GO) test -count=1 ./deploy/...

release-check: $(GORELEASER) ## goreleaser check, then a snapshot build of one target
	$(GORELEASER) check
	GOOS=linux GOARCH=amd64 $(GORELEASER) build --snapshot --clean --single-target

snapshot: $(GORELEASER) ## goreleaser release --snapshot --clean (every target, archives, checksums)
	$(GORELEASER) release --snapshot --clean --skip=docker

docs: ## regenerate docs/reference/ (markdown) and docs/man/ (man pages) from the command tree
	$(GO) run ./internal/gendocs -markdown docs/reference -man docs/man

check-docs: ## fail when docs/reference or docs/man differ from the command tree
	$(GO) run ./internal/gendocs -markdown docs/reference -man docs/man -check
