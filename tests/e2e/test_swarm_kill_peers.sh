#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Peers dying mid-transfer: 6 peers on a 128 MiB file, each limited to 16 MiB/s (-s) so the
# transfer takes ~8 s and pieces are in flight from peer to peer all the time; once they hold
# 16 MiB each, 2 peers are SIGKILLed together with their uploaders (cutting the piece fetches they were serving). The other
# 4 must finish (bounded) with correct outputs, without going to the origin themselves (the
# supernode is alive: dead peers are scheduled around, not a reason to back-source).
DF_PORT_MIN=${DF_PORT_MIN:-40000}
DF_PORT_MAX=${DF_PORT_MAX:-49999}
DF_WATCHDOG=${DF_WATCHDOG:-150}
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

N=6
MIB=128
SIZE=$((MIB * MiB))
RATE=16M   # per-peer download limit: the transfer takes ≥ 8 s
mkfile "$T/www/kill.bin" "$MIB"
SRC_SHA=$(sha256_of "$T/www/kill.bin")
start_origin --quiet
start_supernode
URL="$ORIGIN_BASE/kill.bin"
say "origin $ORIGIN_BASE, supernode $SN_NODE, $N peers, file $MIB MiB"

PEERS=() VICTIMS=(p2 p5) SURVIVORS=()
for ((i = 1; i <= N; i++)); do PEERS+=("p$i"); done
for p in "${PEERS[@]}"; do
  case " ${VICTIMS[*]} " in *" $p "*) ;; *) SURVIVORS+=("$p") ;; esac
done
for p in "${PEERS[@]}"; do
  DFGET_TIMEOUT=75 start_peer "$p" -u "$URL" -o "$T/out/$p.bin" -n "$SN_NODE" -s "$RATE"
done
t_start=$(date +%s.%N)

check "mid-transfer (each victim holds ≥ 16 MiB and serves it): SIGKILL ${VICTIMS[*]} and their uploaders"
# The event, not a clock: both victims have an uploader and ≥ 16 MiB on disk (blocks actually
# written in their work home; the data file is sparse). At 16 MiB/s the remaining 112 MiB take
# ≥ 7 s, whatever the machine's load, so the kill right after lands mid-transfer.
victims_mid() {
  local v kib
  for v in "${VICTIMS[@]}"; do
    [ -n "$(uploader_pids "$v")" ] || return 1
    kib=$(du -sk "$T/dfhome/$v/data" 2>/dev/null | awk '{ print $1 }')
    [ "${kib:-0}" -ge 16384 ] || return 1
  done
}
wait_until 60 victims_mid || fail "the victims did not reach 16 MiB with an uploader within 60 s"
t_kill=$(date +%s.%N)
kill_peers "${VICTIMS[@]}"
for v in "${VICTIMS[@]}"; do
  # proof that the kill hit them mid-transfer: no output, no summary line
  [ ! -e "$T/out/$v.bin" ] && ! grep -q '^summary:' "$T/run/$v.out" ||
    fail "peer $v had already finished when it was killed: not mid-transfer (test timing)"
done
ok "killed pids $KILLED_PIDS $(awk -v a="$t_start" -v b="$t_kill" 'BEGIN { printf "%.1f", b - a }') s after the start; neither had finished"

check "the ${#SURVIVORS[@]} survivors finish (bounded) and exit 0"
for p in "${SURVIVORS[@]}"; do wait_peer "$p"; done
t_done=$(date +%s.%N)
peer_table "${PEERS[@]}"
for p in "${SURVIVORS[@]}"; do
  [ "${PEER_RC[$p]}" = 0 ] || fail "survivor $p exited ${PEER_RC[$p]}: $(grep -m1 'FAIL' "$T/run/$p.out" || grep -m1 . "$T/run/$p.err" || true)"
done
ok "all exited 0, $(awk -v a="$t_kill" -v b="$t_done" 'BEGIN { printf "%.1f", b - a }') s after the kill"

check "every survivor's output equals the source"
for p in "${SURVIVORS[@]}"; do
  [ -f "$T/out/$p.bin" ] || fail "survivor $p: no output file"
  got=$(sha256_of "$T/out/$p.bin")
  [ "$got" = "$SRC_SHA" ] || fail "survivor $p: output sha256 $got != source $SRC_SHA"
done
ok "${#SURVIVORS[@]} outputs match"

check "no survivor went to the origin; the origin sent the file once"
for p in "${SURVIVORS[@]}"; do
  s=$(summary_field "$p" source)
  [ "$s" = 0 ] || fail "survivor $p took $s bytes from the origin (back-source) although the supernode was alive: $(grep -m1 -i 'back to source' "$(dfget_log "$p")" || true)"
done
read -r oreq obytes <<< "$(origin_counts /kill.bin)"
[ "$oreq" = 1 ] && [ "$obytes" = "$SIZE" ] || fail "origin: $oreq request(s), $obytes bytes; expected 1, $SIZE"
dead_refs=0
for p in "${SURVIVORS[@]}"; do
  for v in "${VICTIMS[@]}"; do
    n=$(grep -c "(127.0.0.1:${PEER_PORT[$v]}) failed" "$(dfget_log "$p")" 2>/dev/null || true)
    dead_refs=$((dead_refs + n))
  done
done
ok "source=0 for all survivors; origin 1 request"
say "    $dead_refs piece fetches from the killed peers failed and were rescheduled"
stop_uploaders
pass
