#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The swarm: 6 dfget peers (each with its own work home and uploader port) start at the same
# moment on a 128 MiB file. Every output equals the source; the origin sends the file once;
# at least half of all delivered bytes move peer-to-peer; the supernode serves less than 2× the
# file (its /metrics upload counter and the sum of the peers' supernode= bytes).
DF_PORT_MIN=${DF_PORT_MIN:-40000}
DF_PORT_MAX=${DF_PORT_MAX:-49999}
DF_WATCHDOG=${DF_WATCHDOG:-150}
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

N=6
MIB=128
SIZE=$((MIB * MiB))
mkfile "$T/www/swarm.bin" "$MIB"
SRC_SHA=$(sha256_of "$T/www/swarm.bin")
start_origin --quiet
start_supernode
URL="$ORIGIN_BASE/swarm.bin"
say "origin $ORIGIN_BASE, supernode $SN_NODE (download port $SN_DPORT), $N peers, file $MIB MiB"

check "$N peers started at the same moment all exit 0"
PEERS=()
for ((i = 1; i <= N; i++)); do PEERS+=("p$i"); done
for p in "${PEERS[@]}"; do
  DFGET_TIMEOUT=75 start_peer "$p" -u "$URL" -o "$T/out/$p.bin" -n "$SN_NODE"
done
for p in "${PEERS[@]}"; do wait_peer "$p"; done
say "  per-peer table:"
peer_table "${PEERS[@]}"
for p in "${PEERS[@]}"; do
  [ "${PEER_RC[$p]}" = 0 ] || fail "peer $p exited ${PEER_RC[$p]}: $(grep -m1 -E 'FAIL|error' "$T/run/$p.out" "$T/run/$p.err" || true)"
done
ok "all $N exited 0"

check "every peer still has its own uploader running (they serve until --alivetime)"
for p in "${PEERS[@]}"; do
  [ -n "$(uploader_pids "$p")" ] ||
    fail "peer $p has no uploader process (dfget server --home dfhome/$p) after the run: $(tail -n 3 "$T/dfhome/$p/logs/dfserver.log" 2>/dev/null | tr '\n' '|')"
done
ok "$N uploaders running"

check "every output equals the source (sha256 $SRC_SHA)"
for p in "${PEERS[@]}"; do
  [ -f "$T/out/$p.bin" ] || fail "peer $p: no output file"
  got=$(sha256_of "$T/out/$p.bin")
  [ "$got" = "$SRC_SHA" ] || fail "peer $p: output sha256 $got ($(file_size "$T/out/$p.bin") bytes) != source $SRC_SHA"
done
ok "$N outputs match"

check "the origin sent the file once (1 request, $SIZE body bytes)"
read -r oreq obytes <<< "$(origin_counts /swarm.bin)"
[ "$oreq" = 1 ] && [ "$obytes" = "$SIZE" ] ||
  fail "origin: $oreq request(s), $obytes body bytes for /swarm.bin (200=$(origin_status /swarm.bin 200) 206=$(origin_status /swarm.bin 206)); expected 1 request, $SIZE bytes"
src_sum=$(sum_summary source "${PEERS[@]}")
[ "$src_sum" = 0 ] || fail "peers fetched $src_sum bytes straight from the origin (sum of source=), expected 0"
ok "1 request, $obytes bytes; no peer went to the source"

check "at least half of all delivered bytes moved peer-to-peer"
peer_sum=$(sum_summary peers "${PEERS[@]}")
sn_sum=$(sum_summary supernode "${PEERS[@]}")
total=$((N * SIZE))
[ $((src_sum + sn_sum + peer_sum)) = "$total" ] ||
  fail "summaries add up to $((src_sum + sn_sum + peer_sum)) bytes, expected $N × $SIZE = $total"
[ $((2 * peer_sum)) -ge "$total" ] ||
  fail "peers= sums to $peer_sum bytes ($(awk -v a="$peer_sum" -v b="$total" 'BEGIN { printf "%.1f", 100 * a / b }')% of $total), expected ≥ 50%"
ok "peers=$peer_sum bytes ($(awk -v a="$peer_sum" -v b="$total" 'BEGIN { printf "%.1f", 100 * a / b }')%), supernode=$sn_sum bytes"

check "the supernode served less than 2× the file"
sn_up=$(sn_metric damselfly_supernode_upload_bytes_total)
[ "$sn_up" -lt $((2 * SIZE)) ] ||
  fail "supernode /metrics damselfly_supernode_upload_bytes_total = $sn_up bytes ($(awk -v a="$sn_up" -v b="$SIZE" 'BEGIN { printf "%.2f", a / b }')× the file), expected < 2×"
[ "$sn_sum" -lt $((2 * SIZE)) ] ||
  fail "the peers got $sn_sum bytes from the supernode (sum of supernode=), $(awk -v a="$sn_sum" -v b="$SIZE" 'BEGIN { printf "%.2f", a / b }')× the file, expected < 2×"
ok "supernode upload $sn_up bytes ($(awk -v a="$sn_up" -v b="$SIZE" 'BEGIN { printf "%.2f", a / b }')× the file); sum of supernode= $sn_sum"
stop_uploaders
pass
