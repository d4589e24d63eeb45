#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# P2P proof: peer A downloads a 64 MiB file and keeps its uploader running. Then the supernode's
# CDN copy of the file is deleted and the origin is stopped. Peer B (same URL, --notbs) must
# still complete, entirely from A: summary source=0 supernode=0 peers=<size>, output = source.
DF_PORT_MIN=${DF_PORT_MIN:-40000}
DF_PORT_MAX=${DF_PORT_MAX:-49999}
DF_WATCHDOG=${DF_WATCHDOG:-120}
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

MIB=64
SIZE=$((MIB * MiB))
mkfile "$T/www/proof.bin" "$MIB"
cp "$T/www/proof.bin" "$T/source.bin"   # the reference survives the origin
start_origin --quiet
start_supernode
URL="$ORIGIN_BASE/proof.bin"
say "origin $ORIGIN_BASE, supernode $SN_NODE, file $MIB MiB"

check "peer A downloads the file and keeps its uploader alive"
start_peer A -u "$URL" -o "$T/out/A.bin" -n "$SN_NODE" --alivetime 5m --expiretime 5m
wait_peer A
[ "${PEER_RC[A]}" = 0 ] || fail "peer A exited ${PEER_RC[A]}"
assert_same_file "$T/out/A.bin" "$T/source.bin"
say "    A: $(summary_line "$T/run/A.out")"
PA=${PEER_PORT[A]}
[ -n "$(uploader_pids A)" ] || fail "no uploader process (dfget server) with A's work home after A finished"
ping=$(curl -sf --max-time 3 "http://127.0.0.1:$PA/server/ping" || true)
[ "$ping" = success ] || fail "A's uploader on port $PA does not answer /server/ping (got '$ping')"
ok "A's uploader (pid $(uploader_pids A | tr '\n' ' ')) answers on port $PA"

check "delete the supernode's CDN copy and stop the origin"
mapfile -t data < <(find "$SN_HOME/repo/download" -type f -regextype posix-extended -regex '.*/[0-9a-f]{64}$')
[ "${#data[@]}" = 1 ] || fail "expected exactly 1 CDN data file under ${SN_HOME#"$T"/}/repo/download, found ${#data[@]}: ${data[*]:-none}"
TASK_ID=$(basename "${data[0]}")
[ "$(file_size "${data[0]}")" -ge "$SIZE" ] || fail "CDN data file ${data[0]} has $(file_size "${data[0]}") bytes, less than the file"
rm -f "${data[0]}"
[ ! -e "${data[0]}" ] || fail "cannot delete ${data[0]}"
_df_kill_pid "$ORIGIN_PID"
! curl -s --max-time 2 -o /dev/null "$URL" || fail "the origin still answers after being stopped"
ok "deleted repo/download/${TASK_ID:0:3}/$TASK_ID; origin stopped"

check "peer B (same URL, --notbs) completes entirely from A"
start_peer B -u "$URL" -o "$T/out/B.bin" -n "$SN_NODE" --notbs
wait_peer B
peer_table A B
[ "${PEER_RC[B]}" = 0 ] ||
  fail "peer B exited ${PEER_RC[B]} (expected 0: the supernode still knows the task and A holds every piece): $(grep -m1 'FAIL' "$T/run/B.out" || grep -m1 . "$T/run/B.err" || true)"
assert_same_file "$T/out/B.bin" "$T/source.bin"
expect_summary B 0 0 "$SIZE"
say "    B: $(summary_line "$T/run/B.out")"
ok "B got all $SIZE bytes from peers; A (port $PA) is the only peer that holds the file"
stop_uploaders
pass
