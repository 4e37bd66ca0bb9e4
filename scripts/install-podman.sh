#!/usr/bin/env bash
# Installs what the container-mode tests of `ws up --local` need, from Debian packages, when
# missing: podman with runc (the OCI runtime the tests configure), conmon, netavark and
# aardvark-dns (podman's network stack and the DNS that makes service aliases resolve), iptables
# (netavark's port publishing), uidmap, slirp4netns and fuse-overlayfs (what a rootless podman
# needs), and busybox-static (the test image's only program). Safe to rerun. Run by `make test`.
set -euo pipefail

packages=(podman runc conmon netavark aardvark-dns iptables uidmap slirp4netns fuse-overlayfs busybox-static)
missing=()
for p in "${packages[@]}"; do
	[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = 'install ok installed' ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "install-podman: apt-get not found; install ${missing[*]} yourself" >&2
		exit 1
	fi
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
	echo "install-podman: apt-get install ${missing[*]}" >&2
	lock=(flock /tmp/apt.lock)
	command -v flock >/dev/null 2>&1 || lock=()
	"${sudo[@]}" "${lock[@]}" apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" "${lock[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
echo "install-podman: $(podman --version), $(runc --version | sed -n 1p), $(dpkg-query -W -f='busybox-static ${Version}' busybox-static)" >&2
