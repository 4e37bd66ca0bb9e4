#!/bin/sh
# make demo: build ws, start examples/hello on this machine (ws up --local: in a container when
# Docker or Podman is usable, else on the host), run a command in it, show its web server through
# a port-forward, stop it, and say which mode ran.
set -eu
WS=./bin/ws
NAME=hello
LOCAL_PORT=${DEMO_PORT:-18437}
PF=
why="no usable container engine, or WS_LOCAL_ENGINE=shell"
cleanup() {
	[ -n "$PF" ] && kill "$PF" 2>/dev/null || true
	$WS down $NAME >/dev/null 2>&1 || true
}
trap cleanup EXIT
if ! $WS up --local examples/hello/devfile.yaml --name $NAME; then
	# ws chose a container engine (WS_LOCAL_ENGINE unset) but the job could not start in it,
	# for example because the image cannot be pulled here: show the same demo on the host.
	[ -z "${WS_LOCAL_ENGINE:-}" ] || exit 1
	echo "demo: container mode did not start (see above); running the workspace on this host instead (WS_LOCAL_ENGINE=shell)"
	$WS down $NAME >/dev/null 2>&1 || true
	why="container mode could not start here"
	WS_LOCAL_ENGINE=shell $WS up --local examples/hello/devfile.yaml --name $NAME
fi
mode=$($WS status $NAME --output json | sed -n 's/.*"mode": *"\([a-z]*\)".*/\1/p' | head -1)
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
case $mode in
shell) echo "demo: the workspace ran in shell mode, on this host ($why)" ;;
*) echo "demo: the workspace ran in $mode mode (the devfile's image, in a container)" ;;
esac
