#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Swarm mode with no supernode answering (--node points at a dead port): every blob fetch
# tries the swarm, the registration fails, and dfdaemon falls back to the upstream registry
# (Dragonfly's behaviour): skopeo copy still succeeds with verified layers, one log line per
# fallback says why, and the daemon stops cleanly.
DF_PORT_MIN=${DF_PORT_MIN:-50000}
DF_PORT_MAX=${DF_PORT_MAX:-54999}
DF_WATCHDOG=${DF_WATCHDOG:-85}
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon
need_registry_tools

start_registry
push_image fb/img 2 1024
mapfile -t LAYERS < <(reg_layers fb/img)
DEAD=$(free_port)
start_dfdaemon f1 --registry "$REG_BASE" --node "127.0.0.1:$DEAD" --verbose
say "registry $REG_BASE, dfdaemon $DFD_BASE, supernode 127.0.0.1:$DEAD (dead)"

check "skopeo copy with the supernode down"
"${SKOPEO[@]}" copy -q --src-tls-verify=false "docker://$DFD_HOST/fb/img:latest" "dir:$T/out/c" \
  > "$T/run/copy.out" 2>&1 || fail "skopeo copy failed: $(tail -3 "$T/run/copy.out")"
for d in "${LAYERS[@]}"; do
  f="$T/out/c/${d#sha256:}"
  [ -f "$f" ] && [ "sha256:$(sha256_of "$f")" = "$d" ] || fail "layer $d missing or corrupt"
done
ok "2 layers copied, sha256 verified"
n=$(grep -c 'swarm download of sha256:.* failed .*fetching from the upstream' "$DFD_LOG" || true)
[ "$n" -ge 3 ] || fail "expected >= 3 fallback log lines (2 layers + config), got $n"
ok "$n blobs fell back to the upstream: $(grep -m1 -o 'failed (.*' "$DFD_LOG" | cut -c1-120)"

dfd_stop_all
pass
