#!/usr/bin/env bash
# Installs what the gateway's scale-out tests need, from Debian packages, when missing:
# redis-server (the replicas' shared state) and haproxy (the load balancer in front of
# three replicas). The tests start their own instances on unix sockets and free loopback
# ports and stop them; nothing is started here. Safe to rerun. Run by `make test` in CI.
set -euo pipefail

packages=(redis-server haproxy)
missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "install-redis-haproxy: apt-get not found; install ${missing[*]} yourself" >&2
		exit 1
	fi
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
	echo "install-redis-haproxy: apt-get install ${missing[*]}" >&2
	lock=(flock /tmp/apt.lock)
	command -v flock >/dev/null 2>&1 || lock=()
	"${sudo[@]}" "${lock[@]}" apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" "${lock[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
	# The package starts a system redis-server on :6379; the tests need none.
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
		"${sudo[@]}" systemctl stop redis-server || true
	fi
fi
echo "install-redis-haproxy: $(redis-server --version | cut -d' ' -f1-3), $(haproxy -v | head -1 | cut -d' ' -f1-3)" >&2
