#!/usr/bin/env bash
# Time from 'ws up --local' to a usable shell ('ws shell NAME -- true' exits 0), in shell mode and
# in container mode (Podman, image present) with the agent delivered as an artifact (default) and
# by the injector service; the modes alternate within each of N rounds (default 5), so all share
# the machine's load. Prints each run and the median, min and max per mode.
# Usage: make build && bash bench/local.sh [N]
# Container mode uses the test image (scripts/build-test-images.sh) and, like the tests, a
# containers.conf for this sandbox (CONTAINERS_CONF, when not set already).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}
WS=$PWD/bin/ws
work=$(mktemp -d)
export XDG_STATE_HOME=$work/state
trap '"$WS" down bench >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

if [ -z "${CONTAINERS_CONF:-}" ]; then
	printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' >"$work/containers.conf"
	export CONTAINERS_CONF=$work/containers.conf
fi
image=$(bash scripts/build-test-images.sh)
mkdir -p "$work/project"
cat >"$work/project/devfile.yaml" <<EOF
schemaVersion: 2.2.0
metadata:
  name: bench
components:
  - name: dev
    container:
      image: $image
EOF

ms() { echo $(($(date +%s%N) / 1000000)); }
run() { # mode agent-source
	local s e
	s=$(ms)
	WS_LOCAL_ENGINE=$1 "$WS" up --local "$work/project/devfile.yaml" --name bench --agent-source "$2" >/dev/null 2>"$work/err" ||
		{ cat "$work/err" >&2; exit 1; }
	"$WS" shell bench -- true
	e=$(ms)
	"$WS" down bench >/dev/null
	echo $((e - s))
}

declare -A all
modes=("shell artifact" "podman artifact" "podman service")
for i in $(seq "$N"); do
	for m in "${modes[@]}"; do
		t=$(run $m)
		echo "round $i: ${m/ /, agent by }: $t ms"
		all[$m]="${all[$m]:-} $t"
	done
done
echo "$(podman --version), $(nproc) cores; ms from 'ws up --local' to a usable shell:"
for m in "${modes[@]}"; do
	printf '%s\n' ${all[$m]} | sort -n | awk -v m="${m/ /, agent by }" \
		'{ v[NR] = $1 } END { printf "  %-26s median %5d  min %5d  max %5d  (%d runs)\n", m, v[int((NR + 1) / 2)], v[1], v[NR], NR }'
done
