#!/usr/bin/env bash
# Installs what the container-mode tests of `ws up --local` need, from Debian packages, when
# missing: podman with runc (the OCI runtime the tests configure), conmon, netavark and
# aardvark-dns (podman's network stack and the DNS that makes service aliases resolve), iptables
# (netavark's port publishing), uidmap, slirp4netns and fuse-overlayfs (what a rootless podman
# needs), and busybox-static (the test image's only program). Safe to rerun. Run by `make test`.
set -euo pipefail

bash "$(dirname "$0")/apt-install.sh" install-podman podman runc conmon netavark aardvark-dns iptables uidmap slirp4netns fuse-overlayfs busybox-static
echo "install-podman: $(podman --version), $(runc --version | sed -n 1p), $(dpkg-query -W -f='busybox-static ${Version}' busybox-static)" >&2
