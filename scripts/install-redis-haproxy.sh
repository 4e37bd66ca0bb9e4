#!/usr/bin/env bash
# Installs what the gateway's scale-out tests need, from Debian packages, when missing:
# redis-server (the replicas' shared state) and haproxy (the load balancer in front of
# three replicas). The tests start their own instances on unix sockets and free loopback
# ports and stop them; nothing is started here. Safe to rerun. Run by `make test` in CI.
set -euo pipefail
cd "$(dirname "$0")"
had_redis=$(dpkg-query -W -f='${Status}' redis-server 2>/dev/null || true)
bash apt-install.sh install-redis-haproxy redis-server haproxy
# Under systemd the package starts a system redis-server on :6379; the tests need none.
if [ "$had_redis" != 'install ok installed' ] && command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
	"${sudo[@]}" systemctl stop redis-server || true
fi
redis=$(redis-server --version)
haproxy=$(haproxy -v)
haproxy=${haproxy%%$'\n'*}
echo "install-redis-haproxy: $(cut -d' ' -f1-3 <<<"$redis"), $(cut -d' ' -f1-3 <<<"$haproxy")" >&2
