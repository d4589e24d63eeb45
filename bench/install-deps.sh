#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages the swarm testbed (bench/swarm) needs, on top of
# scripts/install-deps.sh. Idempotent and quiet when everything is already there.
set -euo pipefail
pkgs=(aria2 opentracker mktorrent gnuplot-nox nginx-light iproute2 curl python3 procps)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's post-install scripts may start system services; the testbed runs its own instances.
for svc in nginx opentracker; do
  ($SUDO systemctl stop "$svc" || $SUDO service "$svc" stop) >/dev/null 2>&1 || true
done
