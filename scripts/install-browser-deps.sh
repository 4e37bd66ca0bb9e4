#!/usr/bin/env bash
# Installs what the web UI build and browser test need: Debian's chromium (and Node.js/npm when
# missing) with apt, then the npm packages pinned by the lock files in webui/frontend and
# webui/browsertest. Safe to rerun: it installs only what is missing. Run by `make browser-deps`.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
	if [ -z "${apt_updated:-}" ]; then
		"${sudo[@]}" apt-get update -q
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "$@"
}

missing=()
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# A monospace font, so the terminal's glyphs render in screenshots.
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-browser-deps: apt-get install ${missing[*]}"
	apt_install "${missing[@]}"
fi

for dir in webui/frontend webui/browsertest; do
	# npm ci is slow; skip it when node_modules was installed from the current lock file.
	if [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
		continue
	fi
	npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
done
echo "install-browser-deps: chromium $(chromium --version 2>/dev/null | awk '{print $2}'), node $(node --version)"
