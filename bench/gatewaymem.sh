#!/usr/bin/env bash
# Gateway memory under abuse (issue 10, finding 4), before and after the limits: builds ws at
# BASELINE (default 6b97bb4, the commit before them) and at the work tree, and runs
# bench/gatewaymem against each (gateway and agent as separate processes). Figures go in
# docs/benchmarks.md ("Gateway memory under abuse").
#   bash bench/gatewaymem.sh [-streams N] [-sessions N]
set -euo pipefail
cd "$(dirname "$0")/.."
BASELINE=${BASELINE:-6b97bb4}
tmp=$(mktemp -d)
trap 'git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git worktree add -q --detach "$tmp/base" "$BASELINE"
(cd "$tmp/base" && CGO_ENABLED=0 go build -o "$tmp/ws-baseline" ./cmd/ws)
CGO_ENABLED=0 go build -o "$tmp/ws-current" ./cmd/ws
go build -o "$tmp/gatewaymem" ./bench/gatewaymem
for bin in ws-baseline ws-current; do
	"$tmp/gatewaymem" -ws "$tmp/$bin" "$@"
done
