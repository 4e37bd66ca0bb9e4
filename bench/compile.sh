#!/usr/bin/env bash
# bench/compile.sh — whole-process comparison of `ws compile` with the floor
# (bench/floor: the devfile library's full ParseDevfileAndValidate and
# nothing else), plus both binary sizes. Target: ws within 1.3x of the floor
# (since ws loads devfiles without the library's parser package, it runs
# well under it).
#
#   bench/compile.sh [DEVFILE...]        default: the devfiles in $FILES below
#   RUNS=50 bench/compile.sh             runs per command and file (default 30)
#   SHARED=/path/to/shared bench/compile.sh
#
# Uses hyperfine (installed with apt-get when missing and possible), else a
# bash timing loop. Builds both binaries like `make build`: CGO_ENABLED=0,
# -trimpath, -ldflags "-s -w".
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-30}
SHARED=${SHARED:-../shared}
OUT=${OUT:-bin}
V=$SHARED/corpus/devfiles/valid
# A spread of real stacks: small, typical, large (java-wildfly is the
# largest valid file), with and without events and multiple containers.
FILES=(
	"$V/devfile-registry__stacks__go__devfile.yaml"
	"$V/devfile-registry__stacks__nodejs__devfile.yaml"
	"$V/devfile-registry__stacks__python__devfile.yaml"
	"$V/devfile-registry__stacks__java-maven__devfile.yaml"
	"$V/devfile-registry__stacks__java-wildfly__devfile.yaml"
	"$V/devfile-registry__stacks__dotnet60__devfile.yaml"
)
[ $# -gt 0 ] && FILES=("$@")

mkdir -p "$OUT"
export CGO_ENABLED=0
go build -trimpath -ldflags "-s -w" -o "$OUT/ws" ./cmd/ws
go build -trimpath -ldflags "-s -w" -o "$OUT/floor" ./bench/floor

if ! command -v hyperfine >/dev/null 2>&1; then
	if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
		echo "bench: installing hyperfine with apt-get" >&2
		apt-get install -y hyperfine >/dev/null 2>&1 ||
			{ apt-get update >/dev/null 2>&1 && apt-get install -y hyperfine >/dev/null 2>&1; } || true
	fi
fi

# mean_ms CMD... prints the mean wall time in milliseconds over $RUNS runs.
mean_ms() {
	if command -v hyperfine >/dev/null 2>&1; then
		local json
		json=$(mktemp)
		hyperfine -N --style none --warmup 3 --runs "$RUNS" --export-json "$json" "$(printf '%q ' "$@")" >/dev/null
		# The first "mean" in the export is the only command's mean, in seconds.
		grep -m1 '"mean"' "$json" | sed -E 's/.*"mean": *([0-9.eE+-]+).*/\1/' | awk '{printf "%.3f", $1 * 1000}'
		rm -f "$json"
	else
		local i start end
		for i in 1 2 3; do "$@" >/dev/null 2>&1 || true; done
		start=$(date +%s%N)
		for ((i = 0; i < RUNS; i++)); do "$@" >/dev/null 2>&1 || true; done
		end=$(date +%s%N)
		awk -v d=$((end - start)) -v n="$RUNS" 'BEGIN { printf "%.3f", d / n / 1e6 }'
	fi
}

tool=$(command -v hyperfine >/dev/null 2>&1 && hyperfine --version || echo "bash loop")
printf 'runs per command and file: %s (%s); %s cores\n\n' "$RUNS" "$tool" "$(nproc)"
printf '%-60s %10s %10s %7s\n' devfile "floor ms" "ws ms" ratio
sum_f=0 sum_w=0 n=0 logsum=0
for f in "${FILES[@]}"; do
	name=$(basename "$f")
	if ! "$OUT/floor" "$f" >/dev/null 2>&1; then
		printf '%-60s skipped: the floor rejects it\n' "$name"
		continue
	fi
	if ! "$OUT/ws" compile "$f" >/dev/null 2>&1; then
		printf '%-60s skipped: ws compile fails on it\n' "$name"
		continue
	fi
	tf=$(mean_ms "$OUT/floor" "$f")
	tw=$(mean_ms "$OUT/ws" compile "$f")
	r=$(awk -v a="$tw" -v b="$tf" 'BEGIN { printf "%.2f", a / b }')
	printf '%-60s %10s %10s %6sx\n' "${name:0:60}" "$tf" "$tw" "$r"
	sum_f=$(awk -v a="$sum_f" -v b="$tf" 'BEGIN { print a + b }')
	sum_w=$(awk -v a="$sum_w" -v b="$tw" 'BEGIN { print a + b }')
	logsum=$(awk -v a="$logsum" -v r="$r" 'BEGIN { print a + log(r) }')
	n=$((n + 1))
done
if [ "$n" -gt 0 ]; then
	awk -v f="$sum_f" -v w="$sum_w" -v l="$logsum" -v n="$n" 'BEGIN {
		printf "\n%d files: floor %.2f ms, ws %.2f ms per file (mean); ratio %.2fx (geometric mean %.2fx); target <= 1.30x\n",
			n, f / n, w / n, w / f, exp(l / n) }'
fi
printf '\nbinary sizes (stripped, -trimpath, CGO_ENABLED=0):\n'
for b in ws floor; do
	printf '  %-6s %10d bytes (%.1f MiB), %d non-std packages\n' "$b" "$(stat -c %s "$OUT/$b")" \
		"$(awk -v s="$(stat -c %s "$OUT/$b")" 'BEGIN { print s / 1048576 }')" \
		"$(go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' "./$([ $b = ws ] && echo cmd/ws || echo bench/floor)" | grep -c .)"
done
