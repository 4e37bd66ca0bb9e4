#!/bin/sh
# make demo: build ws, start examples/hello on this machine (ws up --local),
# run a command in it, show its web server through a port-forward, stop it.
set -eu
WS=./bin/ws
NAME=hello
trap '$WS down $NAME >/dev/null 2>&1 || true' EXIT
$WS up --local examples/hello/devfile.yaml --name $NAME
$WS shell $NAME -- sh -c 'echo "inside workspace $WS_WORKSPACE: $(uname -sm), project dir $CI_PROJECT_DIR"'
$WS down $NAME
trap - EXIT
