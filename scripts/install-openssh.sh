#!/usr/bin/env bash
# Installs what the SSH tests and the SSH benchmark need, from Debian packages, when missing:
# openssh-client (ssh, scp, sftp, ssh-keygen, ssh-agent: the real client the tests drive
# through 'ws ssh --stdio'), openssh-server (the sshd the benchmark compares with and the
# tests push to over SSH) and git. Safe to rerun. Run by `make test` in CI.
set -euo pipefail
cd "$(dirname "$0")"
bash apt-install.sh install-openssh openssh-client openssh-server git
echo "install-openssh: $(ssh -V 2>&1), $(dpkg-query -W -f='openssh-server ${Version}' openssh-server), $(git --version)" >&2
