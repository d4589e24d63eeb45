#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Supernode failure mid-transfer. "Mid-transfer" is an event, not a moment: the origin sends the
# first half of the file and then holds the rest (fault gate=) until the test opens the gate
# after the kill, so no peer can finish before the supernode dies, however slow the machine:
#  1. two supernodes, 4 peers with -n sn1,sn2: the supernode that serves clients is SIGKILLed →
#     its clients print "migrated to node:<other>" and finish correctly, without the origin;
#  2. one supernode, 4 peers: it is SIGKILLed → they back-source and finish correctly;
#  3. one supernode, 4 peers with --notbs: it is SIGKILLed → each fails cleanly (exit 80,
#     "download FAIL", no output file, nothing left in its output directory), promptly.
DF_PORT_MIN=${DF_PORT_MIN:-40000}
DF_PORT_MAX=${DF_PORT_MAX:-49999}
DF_WATCHDOG=${DF_WATCHDOG:-170}
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

MIB=64
SIZE=$((MIB * MiB))
GATE="gate=$((SIZE / 2))"
mkfile "$T/www/fo.bin" "$MIB"
SRC_SHA=$(sha256_of "$T/www/fo.bin")
start_origin --quiet --fault "$GATE"
URL="$ORIGIN_BASE/fo.bin"

# at_gate: a supernode's origin download has sent half the file and waits at the gate
at_gate() { [ "$(origin_gated)" -ge 1 ]; }
# verify_ok NAME...: exit 0 and output = source
verify_ok() {
  local p got
  for p; do
    [ "${PEER_RC[$p]}" = 0 ] || fail "peer $p exited ${PEER_RC[$p]}: $(grep -m1 'FAIL' "$T/run/$p.out" || grep -m1 . "$T/run/$p.err" || true)"
    [ -f "$T/out/$p.bin" ] || fail "peer $p: no output file"
    got=$(sha256_of "$T/out/$p.bin")
    [ "$got" = "$SRC_SHA" ] || fail "peer $p: output sha256 $got != source $SRC_SHA"
  done
}
# all_running NAME...: every peer's dfget is still running and has not printed its summary
all_running() {
  local p
  for p; do
    alive "${PEER_PID[$p]}" && ! grep -q '^summary:' "$T/run/$p.out" || return 1
  done
}

# ---- 1: two supernodes ------------------------------------------------------------------------
start_supernode; SN1_PID=$SN_PID SN1_NODE=$SN_NODE
start_supernode; SN2_PID=$SN_PID SN2_NODE=$SN_NODE
say "origin $ORIGIN_BASE (holds after $((MIB / 2)) MiB), sn1 $SN1_NODE, sn2 $SN2_NODE, file $MIB MiB"
check "1. 4 peers with -n sn1,sn2; the supernode serving them is SIGKILLed mid-transfer"
M=(m1 m2 m3 m4)
for p in "${M[@]}"; do
  DFGET_TIMEOUT=75 start_peer "$p" -u "$URL" -o "$T/out/$p.bin" -n "$SN1_NODE,$SN2_NODE"
done
connected() { local p; for p in "${M[@]}"; do grep -q 'connected to node:' "$T/run/$p.out" 2>/dev/null || return 1; done; }
wait_until 20 connected || fail "not all peers connected to a supernode within 20 s"
on1=() on2=()
for p in "${M[@]}"; do
  node=$(sed -n 's/.*connected to node:\([^ ]*\).*/\1/p' "$T/run/$p.out" | head -1)
  case "$node" in
    "$SN1_NODE") on1+=("$p") ;;
    "$SN2_NODE") on2+=("$p") ;;
    *) fail "peer $p connected to unexpected node '$node'" ;;
  esac
done
# kill sn1 unless no client chose it (the node list is shuffled)
if [ "${#on1[@]}" -gt 0 ]; then
  KILL_PID=$SN1_PID KEEP_NODE=$SN2_NODE MOVED=("${on1[@]}") STAYED=("${on2[@]}") KNAME=sn1
else
  KILL_PID=$SN2_PID KEEP_NODE=$SN1_NODE MOVED=("${on2[@]}") STAYED=() KNAME=sn2
fi
wait_until 60 at_gate || fail "no origin download reached the gate within 60 s ($(origin_bytes /fo.bin) bytes sent)"
all_running "${M[@]}" || fail "a peer ended although the origin holds half of the file"
kill_supernode "$KILL_PID"
origin_fault none   # the surviving supernode fetches the file
ok "killed $KNAME (clients on it: ${MOVED[*]}; on the other: ${STAYED[*]:-none})"
for p in "${M[@]}"; do wait_peer "$p"; done
peer_table "${M[@]}"
verify_ok "${M[@]}"
for p in "${MOVED[@]}"; do
  grep -q "^migrated to node:$KEEP_NODE\$" "$T/run/$p.out" ||
    fail "peer $p was on the killed $KNAME but did not print 'migrated to node:$KEEP_NODE': $(tr '\n' '|' < "$T/run/$p.out")"
done
for p in "${M[@]}"; do
  s=$(summary_field "$p" source)
  [ "$s" = 0 ] || fail "peer $p took $s bytes from the origin although $KEEP_NODE was alive (expected migration, not back-source)"
done
ok "${MOVED[*]} migrated to $KEEP_NODE; all 4 outputs correct, source=0"

# ---- 2: one supernode, back-source ------------------------------------------------------------
check "2. one supernode, 4 peers: it is SIGKILLed mid-transfer → they back-source and finish"
origin_fault "$GATE"
origin_reset_stats
start_supernode
B=(b1 b2 b3 b4)
for p in "${B[@]}"; do
  DFGET_TIMEOUT=75 start_peer "$p" -u "$URL" -o "$T/out/$p.bin" -n "$SN_NODE"
done
wait_until 60 at_gate || fail "no origin download reached the gate within 60 s ($(origin_bytes /fo.bin) bytes sent)"
all_running "${B[@]}" || fail "a peer ended although the origin holds half of the file"
kill_supernode "$SN_PID"
origin_fault none   # opens the gate: back-source at full speed
for p in "${B[@]}"; do wait_peer "$p"; done
peer_table "${B[@]}"
verify_ok "${B[@]}"
for p in "${B[@]}"; do
  s=$(summary_field "$p" source)
  [ "$s" -gt 0 ] || fail "peer $p reports source=0 although its only supernode died mid-transfer"
done
ok "all 4 back-sourced and match the source"

# ---- 3: one supernode, --notbs ----------------------------------------------------------------
check "3. one supernode, 4 peers with --notbs: it is SIGKILLed mid-transfer → clean failure"
origin_fault "$GATE"
origin_reset_stats
start_supernode
NB=(n1 n2 n3 n4)
for p in "${NB[@]}"; do
  mkdir -p "$T/out/$p"
  DFGET_TIMEOUT=75 start_peer "$p" -u "$URL" -o "$T/out/$p/$p.bin" -n "$SN_NODE" --notbs
done
wait_until 60 at_gate || fail "no origin download reached the gate within 60 s ($(origin_bytes /fo.bin) bytes sent)"
all_running "${NB[@]}" || fail "a peer ended although the origin holds half of the file"
t_kill=$(date +%s)
kill_supernode "$SN_PID"
for p in "${NB[@]}"; do wait_peer "$p"; done
t_end=$(date +%s)
peer_table "${NB[@]}"
for p in "${NB[@]}"; do
  [ "${PEER_RC[$p]}" = 80 ] || fail "peer $p (--notbs) exited ${PEER_RC[$p]}, expected 80: $(tr '\n' '|' < "$T/run/$p.out")"
  grep -q '^download FAIL(' "$T/run/$p.out" || fail "peer $p: no 'download FAIL(...)' line: $(tr '\n' '|' < "$T/run/$p.out")"
  assert_no_output "$T/out/$p/$p.bin"
done
[ $((t_end - t_kill)) -le 30 ] || fail "--notbs peers took $((t_end - t_kill)) s after the supernode died to give up (expected ≤ 30 s)"
read -r oreq _ <<< "$(origin_counts /fo.bin)"
[ "$oreq" = 1 ] || fail "with --notbs the origin got $oreq requests for /fo.bin (only the supernode's, 1, expected)"
say "    $(grep -m1 '^download FAIL(' "$T/run/n1.out")"
ok "all 4 exited 80 within $((t_end - t_kill)) s, no output left; the origin saw only the supernode"
stop_uploaders
pass
