#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The supernode checks its own copy when a client reports a piece it served as bad (spec §2.7):
#  1. FILE_MD5_NOT_MATCH for an intact piece → re-read, found intact, nothing else happens;
#  2. a byte flipped in the cache file, then FILE_MD5_NOT_MATCH for that piece → found bad, that
#     piece alone is fetched again from the origin (one 206, one piece of bytes; issue 11), and
#     the supernode serves correct bytes again;
#  3. the cache file deleted, then FILE_NOT_EXIST → same recovery;
#  4. a report naming a peer (not the supernode) does not touch the cache.
DF_PORT_MIN=${DF_PORT_MIN:-20000}
DF_PORT_MAX=${DF_PORT_MAX:-24999}
source "$(dirname "$0")/lib.sh"
need_bins supernode

P=4194304
mkfile "$T/www/v16.bin" 16
start_origin
start_supernode --piece-size dragonfly
URL="$ORIGIN_BASE/v16.bin"
BODY="$T/run/body"
jget() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$BODY" "$1" 2>/dev/null || true; }
metric() { curl -sf "$SN_BASE/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
wait_metric() { # wait_metric NAME VALUE WHAT (bounded: 10 s)
  local i
  for ((i = 0; i < 100; i++)); do
    [ "$(metric "$1")" = "$2" ] && { ok "$3 ($1 = $2)"; return 0; }
    sleep 0.1
  done
  fail "$3: $1 = $(metric "$1"), expected $2"
}
wait_cdn_success() {
  local i
  for ((i = 0; i < 100; i++)); do
    curl -sf -o "$BODY" "$SN_BASE/api/v1/tasks/$TASK" && [ "$(jget 'j["cdnStatus"]')" = SUCCESS ] && return 0
    sleep 0.1
  done
  fail "CDN not SUCCESS after 10 s: $(cat "$BODY")"
}
# check_served: every piece from the download port equals the origin's bytes (re-framed)
check_served() {
  local k
  for ((k = 0; k < 5; k++)); do
    curl -sf -H "Range: bytes=$((k * P))-$((k * P + P - 1))" \
      "http://127.0.0.1:$SN_DPORT/download/${TASK:0:3}/$TASK" -o "$T/run/piece$k" || fail "piece $k not served"
    python3 - "$T/www/v16.bin" "$T/run/piece$k" "$k" <<'PY' || fail "piece $k served by the supernode differs from the origin"
import sys
raw = open(sys.argv[1], 'rb').read(); got = open(sys.argv[2], 'rb').read(); n = int(sys.argv[3])
P = 4194304; payload = raw[n * (P - 5):(n + 1) * (P - 5)]
sys.exit(0 if got[4:-1] == payload and got[-1] == 0x7f else 1)
PY
  done
  ok "the supernode serves the origin's bytes"
}
report() { # report TYPE PIECE DSTCID
  local code
  code=$(curl -sg -o "$T/run/err.out" -w '%{http_code}' "$SN_BASE/peer/piece/error?errorType=$1&srcCid=$CID&dstCid=$3&dstIp=127.0.0.1&taskId=$TASK&range=$(($2 * P))-$(($2 * P + P - 1))&realMd5=x&expectedMd5=y")
  [ "$code" = 200 ] && [ ! -s "$T/run/err.out" ] || fail "piece/error → HTTP $code '$(cat "$T/run/err.out")'"
}

CID="127.0.0.1-4004-1700000000.004"
curl -sf -o "$BODY" -H 'Content-Type: application/json' --data-binary \
  '{"rawUrl":"'"$URL"'","taskUrl":"'"$URL"'","cid":"'"$CID"'","ip":"127.0.0.1","hostName":"h","port":0,"path":"/p","version":"1.0.6"}' \
  "$SN_BASE/peer/registry" || fail "registration"
TASK=$(jget 'j["data"]["taskId"]')
CDNCID="cdnnode:127.0.0.1~$TASK"
DATA="$SN_HOME/repo/download/${TASK:0:3}/$TASK"
wait_cdn_success
[ "$(origin_requests /v16.bin)" = 1 ] || fail "origin requests: $(origin_requests /v16.bin)"

check "a digest mismatch reported for an intact supernode piece: re-read, found intact"
report FILE_MD5_NOT_MATCH 1 "$CDNCID"
wait_metric damselfly_supernode_cdn_pieces_reverified_total 1 "piece 1 re-read"
# the same report again right after the re-read (the de-duplication window is 3 s: send it first,
# check the rest afterwards, so a slow machine cannot push it out of the window)
report FILE_MD5_NOT_MATCH 1 "$CDNCID"
sleep 0.3
[ "$(metric damselfly_supernode_cdn_pieces_reverified_total)" = 1 ] || fail "duplicate report re-read the piece"
[ "$(metric damselfly_supernode_cdn_pieces_bad_total)" = 0 ] || fail "intact piece counted bad"
grep -q 'piece 1 re-read: the supernode.s copy matches' "$SN_LOG" || fail "no 'matches' log line"
[ "$(origin_requests /v16.bin)" = 1 ] || fail "intact copy re-fetched"
ok "intact, no re-fetch; a repeated report within 3 s is not re-read"

check "a report naming a peer as the faulty source does not touch the cache"
report FILE_MD5_NOT_MATCH 2 "127.0.0.1-77-1.000"
sleep 0.3
[ "$(metric damselfly_supernode_cdn_pieces_reverified_total)" = 1 ] || fail "peer fault re-read the supernode's copy"
ok "not re-read"

check "a byte flipped in piece 2 of the cache file → found bad, that piece fetched again alone, correct again"
bytes0=$(origin_bytes /v16.bin)
python3 - "$DATA" $((2 * P + 1000)) <<'PY'
import sys
with open(sys.argv[1], 'r+b') as f:
    f.seek(int(sys.argv[2])); b = f.read(1); f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0xff]))
PY
report FILE_MD5_NOT_MATCH 2 "$CDNCID"
wait_metric damselfly_supernode_cdn_pieces_bad_total 1 "piece 2 found bad"
grep -q 'piece 2 of the cache file .* differs from its digests' "$SN_LOG" || fail "no 'differs' log line"
wait_cdn_success
[ "$(origin_requests /v16.bin)" = 2 ] || fail "origin requests after the repair: $(origin_requests /v16.bin)"
[ "$(origin_status /v16.bin 206)" = 1 ] || fail "the repair was not one ranged request (206: $(origin_status /v16.bin 206))"
[ "$(($(origin_bytes /v16.bin) - bytes0))" = $((P - 5)) ] || fail "the repair took $(($(origin_bytes /v16.bin) - bytes0)) origin bytes, expected one piece ($((P - 5)))"
grep -q 'piece 2 repaired from the origin' "$SN_LOG" || fail "no 'piece 2 repaired' log line"
ok "one 206 with piece 2's $((P - 5)) bytes"
check_served

check "the cache file deleted → FILE_NOT_EXIST → fetched again"
rm -f "$DATA"
report FILE_NOT_EXIST 0 "$CDNCID"
wait_metric damselfly_supernode_cdn_pieces_bad_total 2 "missing file detected"
wait_cdn_success
[ "$(origin_requests /v16.bin)" = 3 ] || fail "origin requests after the second repair: $(origin_requests /v16.bin)"
check_served

check "the client still gets pieces and finishes"
curl -sfg -o "$BODY" "$SN_BASE/peer/task?srcCid=$CID&dstCid=&range=&result=502&status=700&taskId=$TASK" || fail "pull"
[ "$(jget 'j["code"]')" = 601 ] || fail "pull after the repairs: $(cat "$BODY")"
ok "601"
pass
