#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The seed's dfclient (issue 12): dfdaemon started with only `--registry=… --ratelimit 500M`
# and /etc/dragonfly.conf `[node] address=…` mounted takes its supernodes from that file, as
# dfget does, so layers go through the swarm (before: the file was ignored and every layer went
# straight to the registry). With no supernode configured anywhere it warns at start.
# $DFGET_CONFIG points both programs at the test's file instead of /etc/dragonfly.conf.
DF_PORT_MIN=${DF_PORT_MIN:-50000}
DF_PORT_MAX=${DF_PORT_MAX:-54999}
DF_WATCHDOG=${DF_WATCHDOG:-85}
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon supernode
need_registry_tools

start_registry
push_image conf/img 2 2048
mapfile -t LAYERS < <(reg_layers conf/img)
start_supernode
printf '[node]\naddress = %s\n' "$SN_NODE" > "$T/dragonfly.conf"
export DFGET_CONFIG="$T/dragonfly.conf"
start_dfdaemon conf --registry="$REG_BASE" --ratelimit 500M
unset DFGET_CONFIG
say "registry $REG_BASE, supernode $SN_BASE, dfdaemon $DFD_BASE, $T/dragonfly.conf: address = $SN_NODE"

check "dfdaemon names the supernodes it took from the INI file"
grep -q "supernodes $SN_NODE (from $T/dragonfly.conf)" "$DFD_LOG" ||
  fail "no 'supernodes … (from …dragonfly.conf)' line in the log: $(grep -m3 main "$DFD_LOG")"
ok "$(grep -o "supernodes .*" "$DFD_LOG" | head -1)"

check "an image pulled through it: every layer registered at the supernode"
"${SKOPEO[@]}" copy -q --src-tls-verify=false "docker://$DFD_HOST/conf/img:latest" "dir:$T/out/c" \
  > "$T/run/copy.out" 2>&1 || fail "skopeo copy failed: $(tail -3 "$T/run/copy.out")"
for d in "${LAYERS[@]}"; do
  f="$T/out/c/${d#sha256:}"
  [ -f "$f" ] && [ "sha256:$(sha256_of "$f")" = "$d" ] || fail "layer $d missing or corrupt"
done
n=$(sn_metric dragonfly_supernode_dfgettasks_registered_total)
[ "${n:-0}" -ge "${#LAYERS[@]}" ] ||
  fail "the supernode saw ${n:-0} registrations for ${#LAYERS[@]} layers: the swarm was not used"
up=$(sn_metric damselfly_supernode_upload_bytes_total)
[ "${up:-0}" -gt 0 ] || fail "the supernode served no byte"
ok "${#LAYERS[@]} layers verified; supernode: $n registrations, $up bytes served"
dfd_stop_all

check "no supernode anywhere: a warning at start, blobs go direct"
export DFGET_CONFIG="$T/missing.conf"
start_dfdaemon none --registry="$REG_BASE"
unset DFGET_CONFIG
grep -q "warning: no supernode configured" "$T/run/dfd-none.err" ||
  fail "no start-up warning on stderr: $(cat "$T/run/dfd-none.err")"
grep -q "no supernode configured" "$DFD_LOG" || fail "no warning in the log"
ok "$(grep -o 'warning: no supernode.*' "$T/run/dfd-none.err")"
dfd_stop_all
pass
