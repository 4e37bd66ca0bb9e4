#!/usr/bin/env bash
# Runs the browser test (make test-browser): builds the devserver (the web UI with real local
# PTY shells behind it), then node's test runner drives headless chromium through
# terminal.test.mjs. Screenshots and the server's log go to webui/browsertest/out/.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf out && mkdir -p out
go build -o out/devserver ../internal/devserver
WS_DEVSERVER="$PWD/out/devserver" WS_OUT="$PWD/out" \
	node --test --test-reporter=spec --test-timeout=180000 terminal.test.mjs
