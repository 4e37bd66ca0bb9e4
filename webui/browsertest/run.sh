#!/usr/bin/env bash
# Runs the browser test (make test-browser): builds ws and internal/e2e/browserserver (a fake
# GitLab, a real gateway and a real 'ws agent'), then node's test runner drives headless
# chromium through terminal.test.mjs. Screenshots and the server's log go to
# webui/browsertest/out/.
set -euo pipefail
cd "$(dirname "$0")"
rm -rf out && mkdir -p out
go build -o out/ws ../../cmd/ws
go build -o out/browserserver ../../internal/e2e/browserserver
WS_SERVER="$PWD/out/browserserver" WS_BIN="$PWD/out/ws" WS_OUT="$PWD/out" \
	node --test --test-reporter=spec --test-timeout=180000 terminal.test.mjs
