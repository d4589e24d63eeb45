#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Phase 2 (prototype): three dfdaemons ("hosts": own work homes and ports) with --node pull the
# same 3-layer image at once with skopeo. Blob GETs go through the supernode in-process (dfget
# engine linked into dfdaemon, the client's headers in the registration): the registry serves
# each layer body once (the supernode's CDN fetch), every layer digest is verified by skopeo
# and by dfdaemon, and the dfdaemon logs/metrics show where the bytes came from.
# Each dfdaemon serves the pieces it has through its own uploader, so hosts also get pieces
# from each other (peers > 0). Piece-by-piece streaming to the client: test_dfd_swarm_stream.sh.
DF_PORT_MIN=${DF_PORT_MIN:-50000}
DF_PORT_MAX=${DF_PORT_MAX:-54999}
DF_WATCHDOG=${DF_WATCHDOG:-85}
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon supernode
need_registry_tools

start_registry
push_image swarm/img 3 4096
mapfile -t LAYERS < <(reg_layers swarm/img)
start_supernode
hosts=()
for h in a b c; do
  start_dfdaemon "$h" --registry "$REG_BASE" --node "$SN_NODE" --verbose
  hosts+=("$DFD_HOST")
done
say "registry $REG_BASE, supernode $SN_BASE, dfdaemons ${hosts[*]}"

check "three hosts pull the image at the same time"
pids=()
for i in 0 1 2; do
  "${SKOPEO[@]}" copy -q --src-tls-verify=false "docker://${hosts[$i]}/swarm/img:latest" \
    "dir:$T/out/h$i" > "$T/run/copy$i.out" 2>&1 & pids+=($!)
done
for i in 0 1 2; do
  wait "${pids[$i]}" || fail "skopeo copy on host $i failed: $(tail -3 "$T/run/copy$i.out")"
done
for i in 0 1 2; do
  for d in "${LAYERS[@]}"; do
    f="$T/out/h$i/${d#sha256:}"
    [ -f "$f" ] && [ "sha256:$(sha256_of "$f")" = "$d" ] || fail "host $i: layer $d missing or corrupt"
  done
done
ok "3 hosts × 3 layers, every file's sha256 equals its digest"

check "the registry served each layer body once"
for d in "${LAYERS[@]}"; do
  n=$(reg_count GET "/v2/swarm/img/blobs/$d" 200)
  [ "$n" = 1 ] || fail "registry answered $n full GETs for layer $d (expected 1)"
done
ok "1 full GET per layer at the registry for 3 hosts"
sn_total=0 peer_total=0
for i in 0 1 2; do
  DFD_BASE="http://${hosts[$i]}"
  v=$(dfd_metric 'dragonfly_dfdaemon_blob_bytes_total{from="supernode"}')
  p=$(dfd_metric 'dragonfly_dfdaemon_blob_bytes_total{from="peers"}')
  say "    host $i: supernode=${v:-0} peers=${p:-0}"
  sn_total=$((sn_total + ${v:-0}))
  peer_total=$((peer_total + ${p:-0}))
done
grep -h 'blob OK repo=swarm/img' "$T"/dfd-*/logs/dfdaemon.log | grep -q 'supernode=[1-9]' ||
  fail "no per-blob log line with supernode bytes"
[ "$peer_total" -gt 0 ] || fail "no bytes came from peers (supernode=$sn_total)"
ok "blob bytes from the supernode: $sn_total, from other hosts' dfdaemons: $peer_total"
up=$(grep -l 'uploader on ' "$T"/dfd-*/logs/dfdaemon.log | wc -l)
[ "$up" = 3 ] || fail "only $up dfdaemons have an uploader"
ok "each host serves pieces through its own uploader (dfdaemon server)"

dfd_stop_all
pass
