#!/usr/bin/env bash
# Usage: apt-install.sh NAME PACKAGE...
# Installs the Debian packages that are not installed yet (apt-get, under /tmp/apt.lock when
# flock exists, since several installs may run at once; sudo when not root), saying so on
# stderr as NAME. Does nothing when all are there. The install-*.sh scripts call it.
set -euo pipefail

name=$1
shift
missing=()
for p in "$@"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = 'install ok installed' ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	echo "$name: apt-get not found; install ${missing[*]} yourself" >&2
	exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
echo "$name: apt-get install ${missing[*]}" >&2
lock=(flock /tmp/apt.lock)
command -v flock >/dev/null 2>&1 || lock=()
"${sudo[@]}" "${lock[@]}" apt-get update -q >&2
# RUNLEVEL=1: invoke-rc.d starts no service of a package's own (sshd, say) where an init
# system would; the tests start what they need on free ports and stop it.
DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 "${sudo[@]}" "${lock[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
