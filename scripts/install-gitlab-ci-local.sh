#!/usr/bin/env bash
# Installs gitlab-ci-local, pinned by internal/testutil/gitlabcilocal/package-lock.json, which the
# tests use as an independent judge of every generated pipeline (internal/corpustest). Installs
# Node.js/npm with apt when missing (Debian's Node 20 runs gitlab-ci-local 4.73.0; 4.74.0 and later
# need Node 22). Safe to rerun: does nothing when the lock file's packages are already installed.
# Run by `make gitlab-ci-local` (and so by make test when npm is here or CI is set).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=internal/testutil/gitlabcilocal

missing=()
{ command -v npm && command -v node; } >/dev/null 2>&1 || missing+=(nodejs npm)
# Running a job (not just --list) copies the checkout with rsync.
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
if [ ${#missing[@]} -gt 0 ]; then
	echo "install-gitlab-ci-local: apt-get install ${missing[*]}"
	sudo=()
	if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
	"${sudo[@]}" apt-get update -q
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}"
fi
command -v git >/dev/null 2>&1 || { echo "install-gitlab-ci-local: git is needed (gitlab-ci-local reads the repository)" >&2; exit 1; }

# npm ci is slow; skip it when node_modules was installed from the current lock file.
if ! [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
	npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
fi
echo "install-gitlab-ci-local: gitlab-ci-local $("$dir/node_modules/.bin/gitlab-ci-local" --version), node $(node --version)"
