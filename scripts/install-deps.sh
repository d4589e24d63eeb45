#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages Damselfly needs to build, test and demo.
# Idempotent and quiet when everything is already there.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libevent-dev libcurl4-openssl-dev libssl-dev
      libjansson-dev libinih-dev libcmocka-dev nginx-light python3 curl iproute2
      e2fsprogs util-linux procps
      libyaml-dev docker-registry skopeo apache2-utils podman   # dfdaemon + its e2e tests
      man-db groff-base systemd adduser   # make deb + test_install_deb (man -l, systemd-analyze)
      clang-14 libfuzzer-14-dev)  # last line: make fuzz / fuzz-smoke (docs/fuzzing.md)
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
# nginx-light's post-install starts a system nginx on :80; we only run our own instances.
if dpkg-query -W nginx-light >/dev/null 2>&1; then
  ($SUDO systemctl stop nginx || $SUDO service nginx stop || $SUDO pkill -x nginx) >/dev/null 2>&1 || true
fi
# docker-registry's post-install may start a system registry on :5000; the dfdaemon tests start
# their own instances with their own config, so stop and disable the system one.
if dpkg-query -W docker-registry >/dev/null 2>&1; then
  ($SUDO systemctl disable --now docker-registry || $SUDO service docker-registry stop ||
   $SUDO pkill -x docker-registry) >/dev/null 2>&1 || true
fi
