#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo`: the swarm on loopback. An origin web server (nginx when installed, else
# tests/e2e/origin.py) serves a 256 MiB random file; a supernode and 8 dfget peers, each with its
# own work home and uploader port, start at the same moment. Prints one line per peer (time,
# bytes from the source / the supernode / other peers), what the origin and the supernode sent,
# and what it means. Everything runs on 127.0.0.1 and is cleaned up on exit or Ctrl-C.
# Usage: scripts/demo.sh <bindir>        (env: DEMO_MIB=256 DEMO_PEERS=8)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 <bindir>" >&2; exit 1; }
[ -d "$1" ] || { echo "demo: $1 is not a directory (build first: make build)" >&2; exit 1; }
DF_BIN="$(cd "$1" && pwd)"
DF_TEST_NAME=demo
DF_WATCHDOG=${DF_WATCHDOG:-120}
DF_PORT_MIN=${DF_PORT_MIN:-40000}
DF_PORT_MAX=${DF_PORT_MAX:-49999}
export DF_BIN DF_TEST_NAME DF_WATCHDOG
# shellcheck source=../tests/e2e/lib.sh
source "$(dirname "$0")/../tests/e2e/lib.sh"
need_bins supernode dfget

SIZE_MIB=${DEMO_MIB:-256}
NPEERS=${DEMO_PEERS:-8}
SIZE=$((SIZE_MIB * MiB))
FILE=demo.bin
t_start=$(date +%s.%N)

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
times() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

say "Damselfly demo: $NPEERS dfget peers fetch one file at the same time, on loopback"
say "  making a $SIZE_MIB MiB random file ..."
mkfile "$T/www/$FILE" "$SIZE_MIB"
SRC_SHA=$(sha256_of "$T/www/$FILE")
if start_nginx; then
  say "  origin:    nginx ($($(nginx_bin) -v 2>&1 | sed 's/.*version: //')) on $ORIGIN_BASE"
else
  start_origin --quiet
  say "  origin:    tests/e2e/origin.py on $ORIGIN_BASE (nginx not installed)"
fi
start_supernode
say "  supernode: scheduler on $SN_NODE, CDN download port $SN_DPORT"
URL="$ORIGIN_BASE/$FILE"
say "  file:      $URL ($SIZE_MIB MiB, sha256 ${SRC_SHA:0:16}...)"

PEERS=()
for ((i = 1; i <= NPEERS; i++)); do PEERS+=("peer$i"); done
say ""
say "starting $NPEERS peers at once: dfget -u $URL -o <out> -n $SN_NODE --home <own> --port <own>"
t0=$(date +%s.%N)
for p in "${PEERS[@]}"; do
  DFGET_TIMEOUT=90 start_peer "$p" -u "$URL" -o "$T/out/$p.bin" -n "$SN_NODE"
done
for p in "${PEERS[@]}"; do wait_peer "$p"; done
t1=$(date +%s.%N)
for p in "${PEERS[@]}"; do
  [ "${PEER_RC[$p]}" = 0 ] || fail "$p exited ${PEER_RC[$p]}: $(grep -m1 'FAIL' "$T/run/$p.out" || grep -m1 . "$T/run/$p.err" || true)"
done
# verify all outputs, two at a time
bad=$(cd "$T/out" && printf '%s.bin\n' "${PEERS[@]}" | xargs -P 2 -n 1 sha256sum | awk -v s="$SRC_SHA" '$1 != s { print $2 }')
[ -z "$bad" ] || fail "outputs differing from the source: $bad"

say ""
say "  peer     uploader   time      from source   from supernode   from other peers"
src_sum=0 sn_sum=0 peer_sum=0
for p in "${PEERS[@]}"; do
  read -r src sn pr t <<< "$(summary_vals "$p")"
  src_sum=$((src_sum + src)); sn_sum=$((sn_sum + sn)); peer_sum=$((peer_sum + pr))
  printf '  %-8s :%-8s %6.2fs  %11s  %15s  %17s\n' "$p" "${PEER_PORT[$p]}" "$t" "$(mib "$src")" "$(mib "$sn")" "$(mib "$pr")"
done
total=$((src_sum + sn_sum + peer_sum))
read -r oreq obytes <<< "$(origin_counts "/$FILE")"
sn_up=$(sn_metric damselfly_supernode_upload_bytes_total)
makespan=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
p2p_pct=$(awk -v a="$peer_sum" -v b="$total" 'BEGIN { printf "%.0f", b ? 100 * a / b : 0 }')
say "  all $NPEERS outputs match the source (sha256); all peers done after $makespan s"
say ""
say "  delivered to peers:  $(mib "$total") = $NPEERS × $SIZE_MIB MiB"
say "  origin sent:         $(mib "$obytes") in $oreq request(s)  ($(times "$obytes" "$SIZE")× the file)"
say "  supernode sent:      $(mib "$sn_up")  ($(times "$sn_up" "$SIZE")× the file)"
say "  peers sent:          $(mib "$peer_sum")  ($p2p_pct% of everything delivered)"
say ""
psize=$(grep -m1 -o 'pieceSize=[0-9]*' "$(dfget_log peer1)" 2>/dev/null | cut -d= -f2 || true)
say "What happened: the first registration made the supernode fetch the file from the origin"
say "once, cutting it into $(mib "${psize:-4194304}") pieces as it streamed in. Each peer asked the supernode for"
say "pieces; the supernode handed out every piece as soon as it had it, naming as the source a"
say "peer that already held it (rarest pieces first; each peer's few fixed partners first, then"
say "the least loaded holder) and itself only when"
say "no peer could. Every dfget started an uploader ('dfget server', on the port shown above) that"
say "serves the pieces it has to the others. So the origin sent $(times "$obytes" "$SIZE")× the file, the supernode"
say "$(times "$sn_up" "$SIZE")× the file, and $p2p_pct% of the $(mib "$total") delivered went from peer to peer."
say "(total demo time $(awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s; everything ran on 127.0.0.1 and is being cleaned up now)"
