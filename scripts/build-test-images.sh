#!/usr/bin/env bash
# Builds the container images the local (container mode) tests run, from Debian packages on this
# machine: no registry is needed. Prints the image reference on stdout.
#
#   localhost/ws-test-busybox:latest  Debian's static busybox as the only program (sh, httpd, wget),
#                                     /etc/ws-test-image (a marker only the image has) and an
#                                     ENTRYPOINT that fails, so a job that does not override it fails.
#
# The image is tagged with a hash of its inputs as well; when that tag exists nothing is rebuilt,
# so `make test` stays fast. ENGINE=docker builds it for Docker instead of Podman.
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${ENGINE:-podman}
REPO=localhost/ws-test-busybox
BUSYBOX=${BUSYBOX:-/bin/busybox}

# Read the whole banner before matching: with pipefail, `| head -1 | grep -q`
# fails at random when busybox is still writing as the reader exits (SIGPIPE).
banner=$("$BUSYBOX" --help 2>&1 || true)
if [[ $banner != BusyBox* ]]; then
	echo "build-test-images: $BUSYBOX is not busybox; run scripts/install-podman.sh (it installs busybox-static)" >&2
	exit 1
fi
if ldd "$BUSYBOX" >/dev/null 2>&1; then
	echo "build-test-images: $BUSYBOX is dynamically linked; the image needs busybox-static" >&2
	exit 1
fi

# Everything the image is made of goes into the tag.
tag=$( { sha256sum "$BUSYBOX" | cut -d' ' -f1; sha256sum "$0" | cut -d' ' -f1; } | sha256sum | cut -c1-16)
if "$ENGINE" image inspect "$REPO:$tag" >/dev/null 2>&1; then
	"$ENGINE" tag "$REPO:$tag" "$REPO:latest"
	echo "$REPO:latest"
	exit 0
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,etc,tmp,root,www,var/run}
chmod 1777 "$root/tmp"
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
	[ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' >"$root/etc/group"
echo "ws-test-image busybox" >"$root/etc/ws-test-image"

tar --numeric-owner --owner=0 --group=0 --mtime=@0 --sort=name -C "$root" -cf "$root.tar" .
if ! out=$("$ENGINE" import \
	--change 'ENV PATH=/usr/local/bin:/bin' \
	--change 'ENTRYPOINT ["/bin/sh", "-c", "echo ws-test-busybox: the image entrypoint ran, it should have been overridden >&2; exit 97"]' \
	--change 'CMD ["sh"]' \
	"$root.tar" "$REPO:$tag" 2>&1); then
	echo "$out" >&2
	exit 1
fi
rm -f "$root.tar"
"$ENGINE" tag "$REPO:$tag" "$REPO:latest"
echo "build-test-images: built $REPO:$tag (${banner%%$'\n'*})" >&2
echo "$REPO:latest"
