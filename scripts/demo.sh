#!/bin/sh
# make demo: build ws, start examples/hello on this machine (ws up --local),
# run a command in it, show its web server through a port-forward, stop it.
set -eu
WS=./bin/ws
NAME=hello
LOCAL_PORT=${DEMO_PORT:-18437}
PF=
cleanup() {
	[ -n "$PF" ] && kill "$PF" 2>/dev/null || true
	$WS down $NAME >/dev/null 2>&1 || true
}
trap cleanup EXIT
$WS up --local examples/hello/devfile.yaml --name $NAME
$WS shell $NAME -- sh -c 'echo "inside workspace $WS_WORKSPACE: $(uname -sm), project dir $CI_PROJECT_DIR"'
if command -v curl >/dev/null 2>&1; then
	# postStart compiles and starts the web server in the background; wait for it.
	$WS port-forward $NAME $LOCAL_PORT:8080 >/dev/null 2>&1 &
	PF=$!
	i=0
	out=
	until out=$(curl -fsS "http://127.0.0.1:$LOCAL_PORT/" 2>/dev/null); do
		i=$((i + 1))
		if [ $i -gt 240 ]; then
			echo "the workspace's web server did not answer within 120 s (see: $WS logs $NAME)"
			break
		fi
		sleep 0.5
	done
	[ -n "$out" ] && echo "through ws port-forward $LOCAL_PORT:8080: $out"
	kill "$PF" 2>/dev/null || true
	PF=
fi
$WS down $NAME
trap - EXIT
