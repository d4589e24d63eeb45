#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Uploader liveness: dfdaemon A (--node) serves its blobs' pieces through its uploader
# (`dfdaemon server`, started at start-up). The uploader is killed (SIGKILL, as if it died or
# idled out). A's next blob finds no uploader at /check, starts a new one (off the loop) and
# registers with its port; host B then gets that blob's pieces from A (peers > 0), while the
# origin serves each blob once (the supernode's CDN fetch).
DF_WATCHDOG=${DF_WATCHDOG:-90}
source "$(dirname "$0")/lib.sh"
need_bins dfdaemon supernode

mkdir -p "$T/www/v2/lib/app/blobs"
for b in 1 2; do
  mkfile "$T/blob$b" 8
  HEX[$b]=$(sha256_of "$T/blob$b")
  cp "$T/blob$b" "$T/www/v2/lib/app/blobs/sha256:${HEX[$b]}"
  BLOB[$b]="/v2/lib/app/blobs/sha256:${HEX[$b]}"
done
start_origin --quiet
start_supernode
start_dfdaemon a --registry "$ORIGIN_BASE" --node "$SN_NODE" --verbose
A_BASE=$DFD_BASE A_LOG=$DFD_LOG
say "origin $ORIGIN_BASE, supernode $SN_NODE, dfdaemon A $DFD_HOST"

# dfd_uploader NAME: PID of the uploader of dfdaemon NAME's work home ("" if none)
dfd_uploader() {
  local f
  for f in /proc/[0-9]*/cmdline; do
    { tr '\0' ' ' < "$f"; } 2>/dev/null | grep -qE -- "dfdaemon server .*--home $T/dfd-$1( |$)" &&
      basename "$(dirname "$f")"
  done
  return 0
}
# reg_port URL_PATH: uploader port of the (last) registration of that blob by A at the supernode
reg_port() {
  grep -E "register cid=127\.0\.0\.1-$A_PID-[^ ]* ip=[^ ]* port=[0-9]+ task=[^ ]* url=$ORIGIN_BASE$1 " "$SN_LOG" |
    tail -1 | sed -E 's/.* port=([0-9]+) .*/\1/'
}
# origin_gets PATH: GETs the origin answered for PATH (dfdaemon's authorization HEADs aside)
origin_gets() {
  _origin_get "/__stats" | python3 -c '
import json, sys
print(json.load(sys.stdin).get("paths", {}).get(sys.argv[1], {}).get("methods", {}).get("GET", 0))' "$1"
}
# get BASE N OUT: blob N through the dfdaemon at BASE → OUT; sets CODE
get() { CODE=$(curl -s --max-time 30 -o "$3" -w '%{http_code}' "$1${BLOB[$2]}" || true); }
A_PID=$DFD_PID

check "blob 1 through A: shared from A's uploader"
U1=$(dfd_uploader a)
[ -n "$U1" ] || fail "dfdaemon A has no uploader after start-up"
get "$A_BASE" 1 "$T/out/a1"
[ "$CODE" = 200 ] || fail "blob 1 through A answered $CODE"
assert_same_file "$T/out/a1" "$T/blob1"
P1=$(reg_port "${BLOB[1]}")
[ -n "$P1" ] && [ "$P1" -gt 0 ] || fail "A registered blob 1 with uploader port '${P1}' (expected > 0)"
ok "uploader pid $U1, blob 1 registered with port $P1"

check "kill A's uploader (SIGKILL)"
kill -KILL "$U1"
wait_until 5 bash -c "! kill -0 $U1 2>/dev/null || grep -q '^State:.*Z' /proc/$U1/status" ||
  fail "uploader $U1 still alive after SIGKILL"
[ -z "$(dfd_uploader a)" ] || fail "another uploader of A is running: $(dfd_uploader a)"
ok "uploader $U1 gone"

check "blob 2 through A: the uploader is started again and blob 2 registered with its port"
get "$A_BASE" 2 "$T/out/a2"
[ "$CODE" = 200 ] || fail "blob 2 through A answered $CODE"
assert_same_file "$T/out/a2" "$T/blob2"
U2=$(dfd_uploader a)
[ -n "$U2" ] && [ "$U2" != "$U1" ] || fail "no new uploader for A (found '$U2')"
P2=$(reg_port "${BLOB[2]}")
[ -n "$P2" ] && [ "$P2" -gt 0 ] || fail "A registered blob 2 with uploader port '${P2}' (expected > 0)"
ping=$(curl -sf --max-time 3 "http://127.0.0.1:$P2/server/ping" || true)
[ "$ping" = success ] || fail "A's new uploader on port $P2 does not answer /server/ping (got '$ping')"
grep -q "uploader /check at port $P1 failed.*making sure it runs" "$A_LOG" ||
  fail "A's log does not tell about the failed /check"
grep -q "uploader on 127.0.0.1:$P2 (started again)" "$A_LOG" || fail "A's log does not tell about the new uploader"
ok "new uploader pid $U2 on port $P2, blob 2 registered with it"

check "host B gets blob 2's pieces from A"
start_dfdaemon b --registry "$ORIGIN_BASE" --node "$SN_NODE"
get "$DFD_BASE" 2 "$T/out/b2"
[ "$CODE" = 200 ] || fail "blob 2 through B answered $CODE"
assert_same_file "$T/out/b2" "$T/blob2"
peers=$(dfd_metric 'dragonfly_dfdaemon_blob_bytes_total{from="peers"}')
sn=$(dfd_metric 'dragonfly_dfdaemon_blob_bytes_total{from="supernode"}')
[ "${peers:-0}" -gt 0 ] || fail "B got ${peers:-0} bytes from peers (supernode ${sn:-0}); A is the only peer"
for b in 1 2; do
  n=$(origin_gets "${BLOB[$b]}")
  [ "$n" = 1 ] || fail "the origin answered $n GETs for blob $b (expected 1: the CDN fetch)"
done
ok "B: peers=$peers supernode=${sn:-0} bytes; the origin served each blob once"
dfd_stop_all
pass
