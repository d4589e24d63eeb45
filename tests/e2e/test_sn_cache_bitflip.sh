#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue 11: pieces from the supernode's disk are re-verified before they are first served after
# a restart, and a bad piece is fetched again alone (not the whole file).
#  1. a 24 MiB file is cached through a real dfget download; the supernode stops;
#  2. one byte is flipped inside the payload of pieces 1 and 4 of the cache file (not adjacent);
#  3. a new supernode on the same home dir: a dfget --notbs gets the right file, no client ever
#     got a bad piece (no client report, no client-triggered re-verification), the origin sent
#     exactly those two pieces again (one 304, two 206) and the log and metrics name them;
#  4. the origin's content changes under the same validators (same size and mtime, so same ETag
#     and Last-Modified) while the cache is bad again: the repaired piece differs from its stored
#     digest, so the supernode falls back to a fresh download and serves the new content.
source "$(dirname "$0")/lib.sh"
need_bins supernode dfget

P=4194304               # --piece-size dragonfly: 4 MiB wrapped pieces
PAY=$((P - 5))          # payload per piece
SIZE=$((24 * MiB))      # 7 pieces, the last one 30 bytes
mkfile "$T/www/flip.bin" 24
start_origin
start_supernode --piece-size dragonfly
HOME1=$SN_HOME port=$SN_PORT dport=$SN_DPORT
URL="$ORIGIN_BASE/flip.bin"
say "origin $ORIGIN_BASE, supernode $SN_NODE, home $HOME1"

# flip FILE OFFSET: inverts the byte at OFFSET
flip() {
  python3 - "$1" "$2" <<'PY'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))
PY
}
metric() { sn_metric "$1"; }
cdn_status() { curl -sf "$SN_BASE/api/v1/tasks/$TASK" | python3 -c 'import json,sys; print(json.load(sys.stdin)["cdnStatus"])' 2>/dev/null || true; }
cdn_success() { [ "$(cdn_status)" = SUCCESS ]; }
start_again() { # a new supernode on the same home dir and ports
  start_supernode --home "$HOME1" --port "$port" --download-port "$dport" --piece-size dragonfly
}

check "cache the file through a first dfget"
run_dfget first -u "$URL" -o "$T/out/first.bin" -n "$SN_NODE" --notbs
expect_rc first 0
assert_same_file "$T/out/first.bin" "$T/www/flip.bin"
DATA=$(find "$HOME1/repo/download" -type f ! -name '*.*' | head -n 1)
TASK=$(basename "$DATA")
[ -n "$TASK" ] || fail "no cache data file under $HOME1/repo/download"
wait_until 10 cdn_success || fail "CDN not SUCCESS: $(cdn_status)"
[ "$(origin_requests /flip.bin)" = 1 ] || fail "origin requests: $(origin_requests /flip.bin)"
ok "task $TASK cached, origin sent $(origin_bytes /flip.bin) bytes in 1 request"

check "stop the supernode, flip one payload byte in pieces 1 and 4 of the cache file"
stop_supernode
flip "$DATA" $((1 * P + 4 + 1000))
flip "$DATA" $((4 * P + 4 + 123456))
cmp -s <(tail -c +$((1 * P + 5)) "$DATA" | head -c "$PAY") <(tail -c +$((1 * PAY + 1)) "$T/www/flip.bin" | head -c "$PAY") &&
  fail "the flip did not change piece 1"
ok "pieces 1 and 4 of the cache file differ from the origin"

check "restart on the same home dir; a dfget --notbs gets the right file"
start_again
reqs0=$(origin_requests /flip.bin) bytes0=$(origin_bytes /flip.bin)
run_dfget second -u "$URL" -o "$T/out/second.bin" -n "$SN_NODE" --notbs
expect_rc second 0
assert_same_file "$T/out/second.bin" "$T/www/flip.bin"
expect_summary second 0 "$SIZE" 0
wait_until 10 cdn_success || fail "CDN not SUCCESS after the second download: $(cdn_status)"

check "the origin sent exactly the two bad pieces again (one 304, two 206), not the file"
reqs1=$(origin_requests /flip.bin) bytes1=$(origin_bytes /flip.bin)
sent=$((bytes1 - bytes0))
say "    origin: $reqs0 -> $reqs1 requests, $bytes0 -> $bytes1 body bytes ($sent sent after the restart; file $SIZE, piece payload $PAY)"
[ "$sent" -gt 0 ] && [ "$sent" -le $((2 * 2 * PAY)) ] ||
  fail "origin sent $sent bytes after the restart, expected at most 2 pieces per bad piece ($((4 * PAY)))"
[ "$sent" = $((2 * PAY)) ] || fail "origin sent $sent bytes after the restart, expected exactly the two bad pieces ($((2 * PAY)))"
[ "$(origin_status /flip.bin 304)" = 1 ] && [ "$(origin_status /flip.bin 206)" = 2 ] &&
  [ "$(origin_status /flip.bin 200)" = 1 ] ||
  fail "origin statuses 200=$(origin_status /flip.bin 200) 206=$(origin_status /flip.bin 206) 304=$(origin_status /flip.bin 304), expected 1/2/1"
ok "origin sent $sent bytes = 2 pieces, in two 206 answers after one 304"

check "no client got a bad piece: no report, no client-triggered re-verification"
[ "$(metric damselfly_supernode_cdn_pieces_reverified_total)" = 0 ] ||
  fail "clients reported $(metric damselfly_supernode_cdn_pieces_reverified_total) bad supernode pieces"
! grep -q 'FILE_MD5_NOT_MATCH\|client reported' "$SN_LOG" || fail "a client reported a bad piece: $(grep -m1 'FILE_MD5_NOT_MATCH\|client reported' "$SN_LOG")"
ok "none"

check "the supernode's log and metrics name the bad pieces"
for k in 1 4; do
  grep -q "piece $k of the cache file .* differs from its stored digest" "$SN_LOG" || fail "no log line naming piece $k"
  grep -q "piece $k repaired from the origin" "$SN_LOG" || fail "no 'piece $k repaired' log line"
done
[ "$(grep -c 'differs from its stored digest' "$SN_LOG")" = 2 ] || fail "other pieces were found bad: $(grep 'differs from its stored digest' "$SN_LOG")"
[ "$(metric damselfly_supernode_cdn_pieces_rechecked_total)" = 7 ] || fail "rechecked = $(metric damselfly_supernode_cdn_pieces_rechecked_total), expected 7"
[ "$(metric damselfly_supernode_cdn_pieces_recheck_bad_total)" = 2 ] || fail "recheck_bad = $(metric damselfly_supernode_cdn_pieces_recheck_bad_total), expected 2"
[ "$(metric damselfly_supernode_cdn_pieces_repaired_total)" = 2 ] || fail "repaired = $(metric damselfly_supernode_cdn_pieces_repaired_total), expected 2"
[ "$(metric damselfly_supernode_cdn_repair_origin_bytes_total)" = $((2 * PAY)) ] ||
  fail "repair bytes = $(metric damselfly_supernode_cdn_repair_origin_bytes_total), expected $((2 * PAY))"
ok "log names pieces 1 and 4; 7 re-hashed, 2 bad, 2 repaired, $((2 * PAY)) repair bytes"

check "the repaired cache is intact: another restart re-verifies it clean, no origin body"
stop_supernode
start_again
run_dfget third -u "$URL" -o "$T/out/third.bin" -n "$SN_NODE" --notbs
expect_rc third 0
assert_same_file "$T/out/third.bin" "$T/www/flip.bin"
wait_until 10 cdn_success || fail "CDN not SUCCESS: $(cdn_status)"
[ "$(origin_bytes /flip.bin)" = "$bytes1" ] || fail "origin sent $(($(origin_bytes /flip.bin) - bytes1)) more bytes"
[ "$(metric damselfly_supernode_cdn_pieces_recheck_bad_total)" = 0 ] || fail "bad pieces after the repair"
ok "7 pieces re-verified intact, origin body bytes still $bytes1"

check "origin content changed under the same validators: repaired piece differs → fresh download"
stop_supernode
cp -p "$T/www/flip.bin" "$T/run/flip.orig"
flip "$T/www/flip.bin" $((2 * PAY + 77))       # new origin content in piece 2 ...
touch -r "$T/run/flip.orig" "$T/www/flip.bin"  # ... same size and mtime: same ETag, Last-Modified
flip "$DATA" $((2 * P + 4 + 5000))             # and the cache's piece 2 is bad
start_again
bytes2=$(origin_bytes /flip.bin)
run_dfget fourth -u "$URL" -o "$T/out/fourth.bin" -n "$SN_NODE" --notbs
expect_rc fourth 0
assert_same_file "$T/out/fourth.bin" "$T/www/flip.bin"
wait_until 10 cdn_success || fail "CDN not SUCCESS: $(cdn_status)"
grep -q 'piece 2 fetched again differs from its stored digest' "$SN_LOG" || fail "no 'differs from its stored digest' line for the repaired piece"
grep -q 'fresh download of' "$SN_LOG" || fail "no fresh download after the changed piece"
sent=$(($(origin_bytes /flip.bin) - bytes2))
[ "$sent" -ge "$SIZE" ] || fail "origin sent only $sent bytes: no full download"
ok "fresh download ($sent origin bytes), the new content is served"
pass
