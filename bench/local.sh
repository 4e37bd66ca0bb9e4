#!/bin/sh
# Time from 'ws up --local' to a usable shell ('ws shell NAME -- true' exits 0),
# shell mode, N runs (default 5). Usage: sh bench/local.sh [N]  (after make build)
set -eu
N=${1:-5}
export XDG_STATE_HOME=$(mktemp -d) WS_LOCAL_ENGINE=shell
trap './bin/ws down bench >/dev/null 2>&1 || true; rm -rf "$XDG_STATE_HOME"' EXIT
for i in $(seq "$N"); do
  s=$(date +%s%N)
  ./bin/ws up --local examples/hello/devfile.yaml --name bench >/dev/null 2>&1
  ./bin/ws shell bench -- true
  e=$(date +%s%N)
  echo "run $i: $(( (e - s) / 1000000 )) ms to a usable shell"
  ./bin/ws down bench >/dev/null
done
