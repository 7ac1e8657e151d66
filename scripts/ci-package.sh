#!/usr/bin/env bash
# CI's packaging step (issue 16), run by .ci/run after the tests: the release build and the
# packages (scripts/release.sh), then install and check them (scripts/package-test.sh).
# Kept out of .ci/run so other changes to it merge without touching this.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
# dpkg-shlibdeps (dpkg-dev) for the .deb's Depends, lintian to check it, man-db for `man xlchat`,
# libcurl's link library (the static FoundationNetworking links -lcurl).
need=()
for pkg in dpkg-dev lintian man-db binutils libcurl4-openssl-dev; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
t0=$(date +%s)
JOBS=${JOBS:-2} bash scripts/release.sh
t1=$(date +%s)
timeout 900 bash scripts/package-test.sh
echo "ci-package: release build and packages $((t1 - t0)) s, install checks $(( $(date +%s) - t1 )) s"
